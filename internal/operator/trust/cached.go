package trust

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// Cached serves the trust objects of one control-plane namespace from
// informers, for a pass that acts on nothing it reads (rotation.Runner's
// cached trial): the four Secrets and the bundle were five round trips to
// the API server on every pass, two thirds of an unchanged pass's time at
// bench-operator's large point (trust phase p50 7.5 ms of 11.2 ms).
//
// A cache may lag. What keeps that safe is the trial, not this type: the
// trial refuses every write and is thrown away if it would write anything,
// emit an event or touch a rotation, and the pass then runs again on reads
// past the cache as before. What is left is a status that may trail a
// change by the cache's lag, as it trails one made just after a read. One lag
// would not be harmless: a cache that has not yet seen the operator's own last
// write would show the trust of the pass before. Writes through Recording
// are marked, and a read that does not yet show the marked state is refused
// (ErrStale) until the cache catches up or markSettle passes.
type Cached struct {
	// Secrets reads the Secrets of Namespace from an informer.
	Secrets client.Reader
	// ConfigMaps reads the labelled ConfigMaps from an informer (the
	// manager's cache); an unlabelled bundle reads as missing, which only
	// ever sends the pass back to the API server.
	ConfigMaps client.Reader
	// Namespace is the one the informers cover; AllNamespaces covers every one.
	Namespace string
	Clock     clock.PassiveClock

	mu    sync.Mutex
	marks map[string]mark // "Kind/namespace/name" of the operator's recent writes
}

// AllNamespaces as Cached.Namespace: the informers cover every namespace.
const AllNamespaces = "*"

// markSettle is how long a write of the operator's own is waited for in the
// cache before the mark is dropped (by then the cache has surely seen it, or
// someone else has written the object since).
const markSettle = 10 * time.Second

type mark struct {
	resourceVersion string
	deleted         bool
	at              time.Time
}

// ErrStale means the cache has not yet seen the operator's own last write of
// an object.
var ErrStale = errors.New("trust cache has not seen the operator's last write yet")

// Covers reports whether the informers hold namespace's trust objects.
func (c *Cached) Covers(namespace string) bool {
	return c != nil && (c.Namespace == AllNamespaces || c.Namespace == namespace)
}

// Reader returns a reader of the trust objects from the informers, checked
// against the marks; other objects, and lists, are read by api.
func (c *Cached) Reader(api client.Reader) client.Reader { return cachedReader{c: c, api: api} }

type cachedReader struct {
	c   *Cached
	api client.Reader
}

func (r cachedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	var from client.Reader
	switch obj.(type) {
	case *corev1.Secret:
		from = r.c.Secrets
	case *corev1.ConfigMap:
		if key.Name == BundleConfigMap {
			from = r.c.ConfigMaps
		}
	}
	if from == nil || !r.c.Covers(key.Namespace) {
		return r.api.Get(ctx, key, obj, opts...)
	}
	err := from.Get(ctx, key, obj, opts...)
	switch {
	case err == nil:
		return r.c.check(markedKind(obj), key, obj.GetResourceVersion(), true)
	case apierrors.IsNotFound(err):
		if err := r.c.check(markedKind(obj), key, "", false); err != nil {
			return err
		}
		return err
	default:
		return err
	}
}

func (r cachedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.api.List(ctx, list, opts...)
}

// check refuses a cached read that does not show the operator's own recent
// write of the object; a read that shows it clears the mark.
func (c *Cached) check(kind string, key client.ObjectKey, resourceVersion string, found bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := fetchKey(kind, key.Namespace, key.Name)
	m, ok := c.marks[id]
	if !ok {
		return nil
	}
	if m.deleted != found && (m.deleted || m.resourceVersion == resourceVersion) ||
		c.Clock.Since(m.at) > markSettle {
		delete(c.marks, id)
		return nil
	}
	return fmt.Errorf("%w: %s", ErrStale, id)
}

// Recording returns w with every successful write of a Secret or ConfigMap
// in the covered namespace marked, so a cached read waits to see it.
func (c *Cached) Recording(w client.Client) client.Client {
	if c == nil {
		return w
	}
	written := func(obj client.Object, err error, deleted bool) error {
		if err == nil || deleted && apierrors.IsNotFound(err) {
			c.mark(obj, deleted)
		}
		return err
	}
	return interceptor.NewClient(withWatch{w}, interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return written(obj, cl.Create(ctx, obj, opts...), false)
		},
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return written(obj, cl.Update(ctx, obj, opts...), false)
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return written(obj, cl.Patch(ctx, obj, patch, opts...), false)
		},
		Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return written(obj, cl.Delete(ctx, obj, opts...), true)
		},
	})
}

func (c *Cached) mark(obj client.Object, deleted bool) {
	kind := markedKind(obj)
	if kind == "" || !c.Covers(obj.GetNamespace()) {
		return
	}
	m := mark{resourceVersion: obj.GetResourceVersion(), deleted: deleted, at: c.Clock.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.marks == nil {
		c.marks = map[string]mark{}
	}
	c.marks[fetchKey(kind, obj.GetNamespace(), obj.GetName())] = m
}

// markedKind names the kinds the informers serve; "" for any other.
func markedKind(obj client.Object) string {
	switch obj.(type) {
	case *corev1.Secret:
		return "Secret"
	case *corev1.ConfigMap:
		return "ConfigMap"
	}
	return ""
}

// withWatch lets a manager's client.Client be wrapped by the interceptor
// package, which wraps a client.WithWatch; nothing here watches.
type withWatch struct{ client.Client }

func (withWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("trust: this client does not watch")
}

// ErrTrialWrite is what a cached trial gets for any write it attempts.
var ErrTrialWrite = errors.New("a cached trial does not write")

// RefuseWrites returns w with every write refused (ErrTrialWrite): a trial
// on cached reads only reads.
func RefuseWrites(w client.Client) client.Client {
	return interceptor.NewClient(withWatch{w}, interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
			return ErrTrialWrite
		},
		Update: func(context.Context, client.WithWatch, client.Object, ...client.UpdateOption) error {
			return ErrTrialWrite
		},
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			return ErrTrialWrite
		},
		Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
			return ErrTrialWrite
		},
		Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
			return ErrTrialWrite
		},
		DeleteAllOf: func(context.Context, client.WithWatch, client.Object, ...client.DeleteAllOfOption) error {
			return ErrTrialWrite
		},
		SubResourceCreate: func(context.Context, client.Client, string, client.Object, client.Object, ...client.SubResourceCreateOption) error {
			return ErrTrialWrite
		},
		SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
			return ErrTrialWrite
		},
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return ErrTrialWrite
		},
		SubResourceApply: func(context.Context, client.Client, string, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
			return ErrTrialWrite
		},
	})
}
