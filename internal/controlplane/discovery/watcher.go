package discovery

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// DefaultDebounce coalesces bursts of changes (a rollout touches many objects).
const DefaultDebounce = 100 * time.Millisecond

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	TrustDomain     string
	DefaultMTLSMode string
	// Debounce defaults to DefaultDebounce.
	Debounce time.Duration
	// Clock defaults to the real clock.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Watcher feeds a Broadcaster from cluster-wide informers.
type Watcher struct {
	cfg    WatcherConfig
	client kubernetes.Interface
	out    *Broadcaster
	synced atomic.Bool
}

// NewWatcher returns a Watcher publishing to out once Run is called.
func NewWatcher(client kubernetes.Interface, out *Broadcaster, cfg WatcherConfig) *Watcher {
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, client: client, out: out}
}

// Synced reports whether the first snapshot was published.
func (w *Watcher) Synced() bool { return w.synced.Load() }

// Run watches until ctx ends. It publishes a first snapshot once every
// informer synced, then one per debounced burst of changes.
func (w *Watcher) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(w.client, 0)
	pods := factory.Core().V1().Pods()
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	namespaces := factory.Core().V1().Namespaces()

	dirty := make(chan struct{}, 1)
	markDirty := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { markDirty() },
		UpdateFunc: func(any, any) { markDirty() },
		DeleteFunc: func(any) { markDirty() },
	}
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), services.Informer(), slices.Informer(), namespaces.Informer()} {
		// Managed fields are large and never read here.
		if err := inf.SetTransform(dropManagedFields); err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil // stopped before the first sync
			}
			return errors.New("informer for " + typ.String() + " did not sync")
		}
	}

	build := func() {
		in := Inputs{TrustDomain: w.cfg.TrustDomain, DefaultMTLSMode: w.cfg.DefaultMTLSMode}
		var err error
		if in.Namespaces, err = namespaces.Lister().List(labels.Everything()); err == nil {
			if in.Pods, err = pods.Lister().List(labels.Everything()); err == nil {
				if in.Services, err = services.Lister().List(labels.Everything()); err == nil {
					in.EndpointSlices, err = slices.Lister().List(labels.Everything())
				}
			}
		}
		if err != nil {
			w.cfg.Logger.Error("listing from informer caches failed", "error", err)
			return
		}
		snap := BuildSnapshot(in)
		changed, err := w.out.Publish(snap)
		if err != nil {
			w.cfg.Logger.Error("publishing snapshot failed", "error", err)
			return
		}
		if changed {
			w.cfg.Logger.Debug("snapshot published", "revision", w.out.Latest().Snapshot.Revision,
				"pods", len(snap.Pods), "services", len(snap.Services))
		}
	}
	// Drain the events of the initial list: the first build covers them.
	select {
	case <-dirty:
	default:
	}
	build()
	w.synced.Store(true)
	w.cfg.Logger.Info("discovery synced", "revision", w.out.Latest().Snapshot.Revision)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-dirty:
		}
		// Trailing debounce: wait a little, letting further events coalesce into
		// the pending mark, then build once.
		select {
		case <-ctx.Done():
			return nil
		case <-w.cfg.Clock.After(w.cfg.Debounce):
		}
		select {
		case <-dirty:
		default:
		}
		build()
	}
}

func dropManagedFields(obj any) (any, error) {
	if accessor, ok := obj.(metav1.ObjectMetaAccessor); ok {
		accessor.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}
