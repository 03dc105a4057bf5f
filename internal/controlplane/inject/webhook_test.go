package inject

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// namespaceMap is a NamespaceGetter over fixed namespaces.
type namespaceMap map[string]*corev1.Namespace

func (m namespaceMap) Get(name string) (*corev1.Namespace, error) {
	if ns, ok := m[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
}

func newTestWebhook(t *testing.T) *httptest.Server {
	t.Helper()
	wh, err := NewWebhook(testConfig(), namespaceMap{
		"shop":      testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil),
		"plain":     testNamespace("plain", nil, nil),
		cpNamespace: testNamespace(cpNamespace, map[string]string{contract.InjectKey: contract.InjectEnabled}, nil),
	}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(wh.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func review(t *testing.T, namespace string, kind metav1.GroupVersionKind, op admissionv1.Operation, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-1"), Kind: kind, Namespace: namespace, Operation: op,
			Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func postReview(t *testing.T, srv *httptest.Server, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Kind != "AdmissionReview" || out.APIVersion != "admission.k8s.io/v1" || out.Response == nil || out.Response.UID != "uid-1" {
		t.Fatalf("malformed review response %+v", out)
	}
	if !out.Response.Allowed {
		t.Fatal("pods must always be allowed")
	}
	return out.Response
}

var podKind = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}

func TestWebhookPatchEqualsMutation(t *testing.T) {
	srv := newTestWebhook(t)
	pod := testPod(nil) // no namespace field, as often at admission
	resp := postReview(t, srv, review(t, "shop", podKind, admissionv1.Create, pod))
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch || len(resp.Patch) == 0 {
		t.Fatalf("expected a JSON patch, got %+v", resp)
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	patched, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("apply patch: %v", err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := Mutate(pod, testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil), testConfig())
	gotJSON, _ := json.Marshal(&got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("patched pod differs from Mutate:\n got %s\nwant %s", gotJSON, wantJSON)
	}

	// Admitting the patched pod again changes nothing.
	again := postReview(t, srv, review(t, "shop", podKind, admissionv1.Create, &got))
	if len(again.Patch) != 0 {
		t.Fatalf("re-admission patched again: %s", again.Patch)
	}
}

func TestWebhookSkips(t *testing.T) {
	srv := newTestWebhook(t)
	for _, tc := range []struct {
		name      string
		namespace string
		kind      metav1.GroupVersionKind
		op        admissionv1.Operation
		pod       *corev1.Pod
	}{
		{"namespace not opted in", "plain", podKind, admissionv1.Create, testPod(nil)},
		{"unknown namespace", "ghost", podKind, admissionv1.Create, testPod(nil)},
		{"control plane namespace", cpNamespace, podKind, admissionv1.Create, testPod(nil)},
		{"pod opted out", "shop", podKind, admissionv1.Create, testPod(map[string]string{contract.InjectKey: contract.InjectDisabled})},
		{"update operation", "shop", podKind, admissionv1.Update, testPod(nil)},
		{"not a pod", "shop", metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, admissionv1.Create, testPod(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postReview(t, srv, review(t, tc.namespace, tc.kind, tc.op, tc.pod))
			if len(resp.Patch) != 0 || resp.PatchType != nil {
				t.Fatalf("unexpected patch %s", resp.Patch)
			}
		})
	}
}

func TestWebhookRejectsGarbage(t *testing.T) {
	srv := newTestWebhook(t)
	for _, body := range []string{"not json", `{"kind":"AdmissionReview"}`} {
		resp, err := srv.Client().Post(srv.URL+Path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("body %q: status %d, want 400", body, resp.StatusCode)
		}
	}
}

// BenchmarkWebhookInject measures one injecting admission end to end in the
// handler: decode, decide, mutate, diff into a JSON patch, encode.
func BenchmarkWebhookInject(b *testing.B) {
	wh, err := NewWebhook(testConfig(), namespaceMap{
		"shop": testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil),
	}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(testPod(nil))
	body, _ := json.Marshal(admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{
		UID: "u", Kind: podKind, Namespace: "shop", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}})
	handler := wh.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body)))
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
