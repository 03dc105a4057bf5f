package rotation

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// lagCache plays an informer that may lag the API server: live, it reads
// the fake API server; frozen, it serves the objects it held when frozen.
type lagCache struct {
	live   client.Reader
	frozen map[string]client.Object // nil: live
	reads  int
}

func cacheKey(obj client.Object, key client.ObjectKey) string {
	if _, ok := obj.(*corev1.Secret); ok {
		return "Secret/" + key.String()
	}
	return "ConfigMap/" + key.String()
}

func (l *lagCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	l.reads++
	if l.frozen == nil {
		return l.live.Get(ctx, key, obj, opts...)
	}
	held, ok := l.frozen[cacheKey(obj, key)]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		*o = *held.(*corev1.Secret).DeepCopy()
	case *corev1.ConfigMap:
		*o = *held.(*corev1.ConfigMap).DeepCopy()
	}
	return nil
}

func (l *lagCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return l.live.List(ctx, list, opts...)
}

// freeze makes the cache keep what the API server holds now.
func (l *lagCache) freeze(t *testing.T) {
	t.Helper()
	l.frozen = map[string]client.Object{}
	var secrets corev1.SecretList
	if err := l.live.List(context.Background(), &secrets); err != nil {
		t.Fatal(err)
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		l.frozen[cacheKey(s, client.ObjectKeyFromObject(s))] = s
	}
	var cms corev1.ConfigMapList
	if err := l.live.List(context.Background(), &cms); err != nil {
		t.Fatal(err)
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		l.frozen[cacheKey(cm, client.ObjectKeyFromObject(cm))] = cm
	}
}

// countingReader counts the Secret reads that reach the API server.
type countingReader struct {
	client.Reader
	secretGets int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		c.secretGets++
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

// withCache gives the fixture's runner a trust cache that starts empty (an
// informer that has seen nothing yet).
func (f *runnerFixture) withCache() (*lagCache, *countingReader) {
	lag := &lagCache{live: f.c, frozen: map[string]client.Object{}}
	api := &countingReader{Reader: f.c}
	cached := &trust.Cached{Secrets: lag, ConfigMaps: lag, Namespace: cpNS, Clock: f.clock}
	f.runner.Trust = &trust.Manager{Client: cached.Recording(f.c), APIReader: api, Clock: f.clock, Cached: cached}
	return lag, api
}

// A cache that lags never makes a write and never costs the anchor: every
// pass that would act on what it read runs again on the API server.
func TestTrialOnALaggingCacheNeverWritesOrLosesTheAnchor(t *testing.T) {
	f := newRunnerFixture(t)
	lag, api := f.withCache()

	// An empty cache: the trial would generate everything, so the pass runs
	// on the API server and creates the trust objects once.
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	anchor, issuer := f.secretAnchor(trust.AnchorSecret), f.secretAnchor(trust.IssuerSecret)
	writes := f.faults.Writes

	// Still empty (the informer lags): the anchor reads as missing. Nothing
	// may be generated again, not even tried; the pass falls back and finds it.
	attempts := f.faults.Attempts
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if f.faults.Attempts != attempts {
		t.Fatalf("%d write attempts on a lagging cache", f.faults.Attempts-attempts)
	}
	if got := f.secretAnchor(trust.AnchorSecret); got != anchor {
		t.Fatalf("anchor replaced on a lagging cache: %s → %s", anchor, got)
	}
	if f.faults.Writes != writes {
		t.Fatalf("%d writes on an unchanged installation with a lagging cache", f.faults.Writes-writes)
	}

	// The cache catches up: the steady pass reads no Secret past it and writes nothing.
	lag.live, lag.frozen = f.c, nil
	before := api.secretGets
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if api.secretGets != before || f.faults.Writes != writes {
		t.Fatalf("steady pass on a current cache: %d Secret reads past the cache, %d writes; want 0 and 0",
			api.secretGets-before, f.faults.Writes-writes)
	}
	if f.mi.Status.Trust.NextRotation == nil {
		t.Fatal("the trial's status was not kept")
	}

	// The issuer Secret is deleted by hand; the cache has not seen it yet:
	// no write (the next pass repairs it)...
	lag.freeze(t)
	var s corev1.Secret
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: cpNS, Name: trust.IssuerSecret}, &s); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Delete(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	writes = f.faults.Writes
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if f.faults.Writes != writes {
		t.Fatalf("a pass on a stale cache wrote %d objects", f.faults.Writes-writes)
	}
	// ...and once the cache sees it gone, the pass re-issues it on reads
	// past the cache, with the same anchor.
	lag.frozen = nil
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if got := f.secretAnchor(trust.IssuerSecret); got == issuer {
		t.Fatal("the deleted issuer was not re-issued")
	}
	if got := f.secretAnchor(trust.AnchorSecret); got != anchor {
		t.Fatalf("anchor replaced: %s → %s", anchor, got)
	}
	if lag.reads == 0 {
		t.Fatal("the cache was never read")
	}

	// The cache freezes, then the issuer comes due and is renewed past it.
	// Once the operator's own write is no longer waited for, the stale cache
	// still shows the old, due issuer: the trial would renew it again, and
	// only its refused write keeps that from happening.
	lag.freeze(t)
	kp := mustIssuer(t, f)
	f.clock.SetTime(pki.RenewalTime(kp.Cert, f.mi.Spec.Trust.IssuerLifetime().RenewBefore.Duration).Add(time.Second))
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	renewed := f.secretAnchor(trust.IssuerSecret)
	if renewed == pki.Fingerprint(kp.Cert) {
		t.Fatal("the due issuer was not renewed")
	}
	f.clock.Step(time.Minute)
	attempts = f.faults.Attempts
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if f.faults.Attempts != attempts || f.secretAnchor(trust.IssuerSecret) != renewed {
		t.Fatalf("a stale cache tried to renew the issuer again (%d write attempts)", f.faults.Attempts-attempts)
	}
}

func mustIssuer(t *testing.T, f *runnerFixture) *pki.KeyPair {
	t.Helper()
	var s corev1.Secret
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: cpNS, Name: trust.IssuerSecret}, &s); err != nil {
		t.Fatal(err)
	}
	kp, err := pki.ParseKeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// A cache that has not seen the operator's own last write is not trusted
// even where what it shows would need no write.
func TestTrialWaitsForTheOperatorsOwnWrite(t *testing.T) {
	f := newRunnerFixture(t)
	lag, api := f.withCache()
	lag.frozen = nil
	if err := f.pass(); err != nil { // creates everything (the trial saw nothing)
		t.Fatal(err)
	}
	lag.freeze(t)
	// The issuer is re-issued past the cache (as a renewal would)...
	if _, err := f.runner.Trust.IssueIssuer(context.Background(), f.mi, mustActive(t, f)); err != nil {
		t.Fatal(err)
	}
	// ...and the frozen cache still shows the old one: the trial must not
	// report it, so the pass reads the Secrets past the cache.
	before := api.secretGets
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if api.secretGets == before {
		t.Fatal("the pass trusted a cache that had not seen the operator's own write")
	}
}

func mustActive(t *testing.T, f *runnerFixture) *pki.KeyPair {
	t.Helper()
	st, err := f.runner.Trust.Load(context.Background(), f.mi)
	if err != nil {
		t.Fatal(err)
	}
	return st.Active
}
