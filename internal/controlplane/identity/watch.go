package identity

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// WatchConfig names the objects an IssuerWatcher follows in Namespace.
type WatchConfig struct {
	Namespace string
	// IssuerSecret holds tls.crt (issuer first) and tls.key.
	IssuerSecret string
	// TrustRootsConfigMap holds the published bundle under contract.TrustRootsKey;
	// empty disables the trust gate.
	TrustRootsConfigMap string
	Clock               clock.PassiveClock
	Logger              *slog.Logger
}

// IssuerWatcher keeps the issuer current from its Secret, without restarts,
// and only adopts an issuer that chains to the published trust bundle (see
// ChooseIssuer). It watches exactly those two objects, as RBAC grants no more.
type IssuerWatcher struct {
	StaticIssuer
	cfg    WatchConfig
	client kubernetes.Interface
	synced atomic.Bool

	mu        sync.Mutex
	candidate *Issuer
	bundle    Bundle
	lastHeld  string // reason of the last hold, so repeats are not logged
}

// NewIssuerWatcher returns a watcher; call Run to start it.
func NewIssuerWatcher(client kubernetes.Interface, cfg WatchConfig) *IssuerWatcher {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &IssuerWatcher{cfg: cfg, client: client}
}

// Synced reports whether both objects were listed once and the gate ran.
func (w *IssuerWatcher) Synced() bool { return w.synced.Load() }

// Run watches until ctx ends.
func (w *IssuerWatcher) Run(ctx context.Context) {
	byName := func(name string) informers.SharedInformerOption {
		return informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector(metav1.ObjectNameField, name).String()
		})
	}
	secrets := informers.NewSharedInformerFactoryWithOptions(w.client, 10*time.Minute,
		informers.WithNamespace(w.cfg.Namespace), byName(w.cfg.IssuerSecret))
	synced := []cache.InformerSynced{w.watchSecret(secrets)}
	secrets.Start(ctx.Done())
	defer secrets.Shutdown()
	if w.cfg.TrustRootsConfigMap != "" {
		configMaps := informers.NewSharedInformerFactoryWithOptions(w.client, 10*time.Minute,
			informers.WithNamespace(w.cfg.Namespace), byName(w.cfg.TrustRootsConfigMap))
		synced = append(synced, w.watchBundle(configMaps))
		configMaps.Start(ctx.Done())
		defer configMaps.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	// Decide only once both objects are known, so a first issuer is never
	// judged against a bundle that simply has not been listed yet.
	w.synced.Store(true)
	w.update(func() {})
	<-ctx.Done()
}

func (w *IssuerWatcher) watchSecret(f informers.SharedInformerFactory) cache.InformerSynced {
	inf := f.Core().V1().Secrets().Informer()
	load := func(obj any) {
		secret, ok := obj.(*corev1.Secret)
		if !ok || secret.Name != w.cfg.IssuerSecret {
			return
		}
		issuer, err := ParseIssuer(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			// A broken update must not replace a working issuer.
			w.cfg.Logger.Error("issuer secret is unusable; keeping the previous issuer", "secret", secret.Name, "error", err)
			return
		}
		w.update(func() { w.candidate = issuer })
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    load,
		UpdateFunc: func(_, obj any) { load(obj) },
		DeleteFunc: func(any) {
			// The last issuer is still trusted; a deleted Secret is the operator's cue to write a new one.
			w.cfg.Logger.Warn("issuer secret deleted; keeping the last loaded issuer", "secret", w.cfg.IssuerSecret)
		},
	})
	return inf.HasSynced
}

func (w *IssuerWatcher) watchBundle(f informers.SharedInformerFactory) cache.InformerSynced {
	inf := f.Core().V1().ConfigMaps().Informer()
	load := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok || cm.Name != w.cfg.TrustRootsConfigMap {
			return
		}
		bundle, err := ParseBundle([]byte(cm.Data[contract.TrustRootsKey]))
		if err != nil {
			w.cfg.Logger.Error("trust bundle is unusable; keeping the previous one", "configMap", cm.Name, "error", err)
			return
		}
		w.update(func() { w.bundle = bundle })
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    load,
		UpdateFunc: func(_, obj any) { load(obj) },
		DeleteFunc: func(any) { w.update(func() { w.bundle = Bundle{} }) },
	})
	return inf.HasSynced
}

// update applies change and, once synced, re-runs the trust gate.
func (w *IssuerWatcher) update(change func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	change()
	if !w.synced.Load() {
		return
	}
	current := w.Current()
	verdict := ChooseIssuer(current, w.candidate, w.bundle, w.cfg.Clock.Now())
	if verdict.Held {
		if verdict.Reason != w.lastHeld {
			w.cfg.Logger.Warn("new issuer held back", "fingerprint", w.candidate.Fingerprint, "reason", verdict.Reason)
		}
		w.lastHeld = verdict.Reason
	} else {
		w.lastHeld = ""
	}
	if verdict.Issuer != nil && verdict.Issuer != current {
		w.Set(verdict.Issuer)
		w.cfg.Logger.Info("issuer adopted", "fingerprint", verdict.Issuer.Fingerprint,
			"subject", verdict.Issuer.Cert.Subject.String(), "notAfter", verdict.Issuer.Cert.NotAfter, "reason", verdict.Reason)
	}
}

// Roots is the pool a mesh client certificate must chain to: the published
// bundle (every anchor, so both sides of a rotation are accepted), or, while
// none is readable, the current issuer's own chain. Nil before either is known.
func (w *IssuerWatcher) Roots() *x509.CertPool {
	w.mu.Lock()
	bundle := w.bundle
	w.mu.Unlock()
	if bundle.Known {
		return bundle.Roots
	}
	issuer := w.Current()
	if issuer == nil {
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range issuer.Chain {
		pool.AddCert(c)
	}
	return pool
}
