package identity

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// SecretIssuerSource keeps the issuer from one Secret (keys tls.crt, tls.key)
// current by watching that Secret alone, as RBAC only grants that name.
type SecretIssuerSource struct {
	StaticIssuer
	client    kubernetes.Interface
	namespace string
	name      string
	log       *slog.Logger
	synced    atomic.Bool
}

// NewSecretIssuerSource watches Secret namespace/name once Run is called.
func NewSecretIssuerSource(client kubernetes.Interface, namespace, name string, log *slog.Logger) *SecretIssuerSource {
	return &SecretIssuerSource{client: client, namespace: namespace, name: name, log: log}
}

// Run watches the Secret until ctx ends.
func (s *SecretIssuerSource) Run(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 10*time.Minute,
		informers.WithNamespace(s.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector(metav1.ObjectNameField, s.name).String()
		}))
	informer := factory.Core().V1().Secrets().Informer()
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.load(obj) },
		UpdateFunc: func(_, obj any) { s.load(obj) },
		DeleteFunc: func(any) {
			// Keep signing with the last good issuer: it is still trusted, and a
			// deleted Secret is the operator's cue to write a new one.
			s.log.Warn("issuer secret deleted; keeping the last loaded issuer", "secret", s.name)
		},
	})
	factory.Start(ctx.Done())
	if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		s.synced.Store(true)
	}
	<-ctx.Done()
	factory.Shutdown()
}

// Synced reports whether the first list of the Secret completed.
func (s *SecretIssuerSource) Synced() bool { return s.synced.Load() }

func (s *SecretIssuerSource) load(obj any) {
	secret, ok := obj.(*corev1.Secret)
	if !ok || secret.Name != s.name {
		return
	}
	issuer, err := ParseIssuer(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		// A broken update must not replace a working issuer.
		s.log.Error("issuer secret is unusable; keeping the previous issuer", "secret", s.name, "error", err)
		return
	}
	if prev := s.Current(); prev != nil && prev.Fingerprint == issuer.Fingerprint {
		return
	}
	s.Set(issuer)
	s.log.Info("issuer loaded", "secret", s.name, "fingerprint", issuer.Fingerprint,
		"subject", issuer.Cert.Subject.String(), "notAfter", issuer.Cert.NotAfter)
}
