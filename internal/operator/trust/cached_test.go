package trust

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

func secret(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// mapInformer plays an informer: it holds exactly the Secrets put in it.
type mapInformer map[client.ObjectKey]*corev1.Secret

func (m mapInformer) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	s, ok := m[key]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	*obj.(*corev1.Secret) = *s.DeepCopy()
	return nil
}

func (m mapInformer) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not listed")
}

// The cached reads: which reader answers, and when the operator's own
// recent write makes a cached answer stale.
func TestCachedReads(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	api := kubeenv.NewFakeClient(&kubeenv.Faults{}, secret("cp", "api-only"), secret("elsewhere", "s"))
	issuerKey := client.ObjectKey{Namespace: "cp", Name: IssuerSecret}
	informer := mapInformer{issuerKey: secret("cp", IssuerSecret)}
	c := &Cached{Secrets: informer, ConfigMaps: informer, Namespace: "cp", Clock: clk}
	r := c.Reader(api)

	get := func(ns, name string) error {
		return r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{})
	}
	if err := get("cp", IssuerSecret); err != nil {
		t.Fatalf("covered Secret from the informer: %v", err)
	}
	if err := get("cp", "api-only"); !apierrors.IsNotFound(err) {
		t.Fatalf("covered Secret the informer lacks: %v, want the informer's NotFound", err)
	}
	if err := get("elsewhere", "s"); err != nil {
		t.Fatalf("a Secret outside the covered namespace comes from the API server: %v", err)
	}

	// The operator writes the issuer through Recording; until the informer
	// shows that very version, its answer is stale.
	w := c.Recording(api)
	s := secret("cp", IssuerSecret)
	if err := w.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := get("cp", IssuerSecret); !errors.Is(err, ErrStale) {
		t.Fatalf("read before the informer saw the write: %v, want ErrStale", err)
	}
	informer[issuerKey] = s.DeepCopy()
	if err := get("cp", IssuerSecret); err != nil {
		t.Fatalf("read once the informer shows the write: %v", err)
	}
	informer[issuerKey] = secret("cp", IssuerSecret) // a later version by someone else
	if err := get("cp", IssuerSecret); err != nil {
		t.Fatalf("the mark is gone once seen: %v", err)
	}

	// A delete through Recording: a cached copy that still shows the Secret
	// is stale, until markSettle passes.
	if err := w.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := get("cp", IssuerSecret); !errors.Is(err, ErrStale) {
		t.Fatalf("cached copy of a Secret the operator deleted: %v, want ErrStale", err)
	}
	clk.Step(markSettle + time.Second)
	if err := get("cp", IssuerSecret); err != nil {
		t.Fatalf("after markSettle the informer's answer stands: %v", err)
	}
	// A write outside the covered namespace is not marked.
	if err := w.Create(ctx, secret("elsewhere", "new")); err != nil {
		t.Fatal(err)
	}
	if len(c.marks) != 0 {
		t.Fatalf("marks %v, want none", c.marks)
	}
}

func TestRefuseWrites(t *testing.T) {
	ctx := context.Background()
	f := &kubeenv.Faults{}
	w := RefuseWrites(kubeenv.NewFakeClient(f, secret("cp", "s")))
	s := secret("cp", "s")
	for verb, err := range map[string]error{
		"create": w.Create(ctx, secret("cp", "new")),
		"update": w.Update(ctx, s),
		"patch":  w.Patch(ctx, s, client.MergeFrom(s.DeepCopy())),
		"delete": w.Delete(ctx, s),
		"status": w.Status().Update(ctx, s),
	} {
		if !errors.Is(err, ErrTrialWrite) {
			t.Errorf("%s: %v, want ErrTrialWrite", verb, err)
		}
	}
	if f.Attempts != 0 {
		t.Fatalf("%d writes reached the client", f.Attempts)
	}
	if err := w.Get(ctx, client.ObjectKeyFromObject(s), &corev1.Secret{}); err != nil {
		t.Fatalf("reads pass through: %v", err)
	}
}

func TestIsTrustSecret(t *testing.T) {
	generated := &meshv1.MeshInstallation{}
	generated.Spec.ControlPlane.Namespace = "cp"
	provided := generated.DeepCopy()
	provided.Spec.Trust.AnchorSecretRef = &meshv1.SecretReference{Name: "my-anchor"}
	cases := []struct {
		mi       *meshv1.MeshInstallation
		ns, name string
		trustOf  bool
	}{
		{generated, "cp", AnchorSecret, true},
		{generated, "cp", NextAnchorSecret, true},
		{generated, "cp", IssuerSecret, true},
		{generated, "cp", InjectorTLSSecret, true},
		{generated, "cp", "my-anchor", false},
		{provided, "cp", "my-anchor", true},
		{generated, "elsewhere", IssuerSecret, false},
		{generated, "cp", "sh.helm.release.v1.meshkeeper.v1", false},
	}
	for _, tc := range cases {
		if got := IsTrustSecret(tc.mi, tc.ns, tc.name); got != tc.trustOf {
			t.Errorf("IsTrustSecret(ref %v, %s/%s) = %v, want %v", tc.mi.Spec.Trust.AnchorSecretRef, tc.ns, tc.name, got, tc.trustOf)
		}
	}
}
