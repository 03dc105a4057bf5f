package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Path is where the API server sends pod admissions.
const Path = "/inject"

// maxReviewBytes bounds an AdmissionReview; the API server caps objects near 3 MiB.
const maxReviewBytes = 8 << 20

// NamespaceGetter reads namespaces from a cache (a NamespaceLister fits).
type NamespaceGetter interface {
	Get(name string) (*corev1.Namespace, error)
}

// Webhook answers AdmissionReviews for pod creation.
type Webhook struct {
	cfg        Config
	namespaces NamespaceGetter
	log        *slog.Logger
	admissions *prometheus.CounterVec
}

// Admission outcomes, the values of the "result" label.
const (
	resultInjected = "injected"
	resultSkipped  = "skipped"
	resultError    = "error"
)

// NewWebhook builds the webhook; reg receives its metrics (nil: private registry).
func NewWebhook(cfg Config, namespaces NamespaceGetter, log *slog.Logger, reg prometheus.Registerer) (*Webhook, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	admissions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshkeeper_injector_admissions_total",
		Help: "Pod admissions handled, by result.",
	}, []string{"result"})
	if err := reg.Register(admissions); err != nil {
		return nil, err
	}
	return &Webhook{cfg: cfg, namespaces: namespaces, log: log, admissions: admissions}, nil
}

// Handler routes POST Path.
func (wh *Webhook) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, wh.serve)
	return mux
}

func (wh *Webhook) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "body is not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	resp := wh.admit(review.Request)
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// admit always allows the pod: a failure to inject must not block workloads,
// it is logged and counted instead.
func (wh *Webhook) admit(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		wh.admissions.WithLabelValues(resultSkipped).Inc()
		return allow
	}
	patch, warnings, reason, err := wh.patchFor(req)
	log := wh.log.With("namespace", req.Namespace, "pod", podName(req), "reason", reason)
	switch {
	case err != nil:
		wh.admissions.WithLabelValues(resultError).Inc()
		log.Error("injection failed; admitting pod unchanged", "error", err)
		allow.Warnings = []string{"meshkeeper: proxy injection failed: " + err.Error()}
		return allow
	case patch == nil:
		wh.admissions.WithLabelValues(resultSkipped).Inc()
		log.Debug("pod not injected")
		return allow
	}
	wh.admissions.WithLabelValues(resultInjected).Inc()
	log.Info("proxy injected", "proxyVersion", wh.cfg.ProxyVersion)
	allow.Patch = patch
	allow.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
	allow.Warnings = warnings
	return allow
}

// patchFor returns the JSON patch injecting the pod, or nil if it is not to be injected.
func (wh *Webhook) patchFor(req *admissionv1.AdmissionRequest) ([]byte, []string, string, error) {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, nil, "", fmt.Errorf("decode pod: %w", err)
	}
	// The pod's own namespace field may be empty at admission time.
	ns, err := wh.namespaces.Get(req.Namespace)
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: req.Namespace}}
	} else if err != nil {
		return nil, nil, "", fmt.Errorf("namespace %s: %w", req.Namespace, err)
	}
	inject, reason := ShouldInject(&pod, ns, wh.cfg.ControlPlaneNamespace, wh.cfg.NamespaceSelector)
	if !inject {
		return nil, nil, reason, nil
	}
	mutated, warnings := Mutate(&pod, ns, wh.cfg)
	mutatedJSON, err := json.Marshal(mutated)
	if err != nil {
		return nil, nil, reason, err
	}
	ops, err := jsonpatch.CreatePatch(req.Object.Raw, mutatedJSON)
	if err != nil {
		return nil, nil, reason, fmt.Errorf("compute patch: %w", err)
	}
	if len(ops) == 0 {
		return nil, nil, reason, errors.New("mutation produced no change")
	}
	patch, err := json.Marshal(ops)
	return patch, warnings, reason, err
}

func podName(req *admissionv1.AdmissionRequest) string {
	if req.Name != "" {
		return req.Name
	}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(req.Object.Raw, &meta)
	return meta.Metadata.GenerateName
}
