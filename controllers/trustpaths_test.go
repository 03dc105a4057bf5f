package controllers

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
)

// bundleSnapshot is one published bundle as a user namespace saw it, with the
// issuer each simulated proxy of that namespace last reported at that moment.
type bundleSnapshot struct {
	anchors []string
	issuers map[types.NamespacedName]string
}

// bundleRecorder polls the bundle ConfigMap of a user namespace (every few
// milliseconds, far more often than the operator's passes) and records every
// distinct set of anchors, so a bundle published for one pass only is seen.
type bundleRecorder struct {
	mu    sync.Mutex
	seen  []bundleSnapshot
	stop  chan struct{}
	done  chan struct{}
	ns    string
	pods  []types.NamespacedName
	fails []error
}

func recordBundle(t *testing.T, ns string, pods ...types.NamespacedName) *bundleRecorder {
	t.Helper()
	r := &bundleRecorder{stop: make(chan struct{}), done: make(chan struct{}), ns: ns, pods: pods}
	go r.run()
	t.Cleanup(r.halt)
	eventually(t, "bundle in "+ns+" recorded", func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.seen) == 0 {
			return fmt.Errorf("no bundle seen yet")
		}
		return nil
	})
	return r
}

func (r *bundleRecorder) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: r.ns, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
			continue // not published yet
		}
		certs, err := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
		if err != nil {
			r.mu.Lock()
			r.fails = append(r.fails, fmt.Errorf("unreadable bundle in %s: %v", r.ns, err))
			r.mu.Unlock()
			continue
		}
		var fps []string
		for _, c := range certs {
			fps = append(fps, pki.Fingerprint(c))
		}
		slices.Sort(fps)
		r.mu.Lock()
		if n := len(r.seen); n == 0 || !slices.Equal(r.seen[n-1].anchors, fps) {
			r.seen = append(r.seen, bundleSnapshot{anchors: fps, issuers: proxies.issuers(r.pods)})
		}
		r.mu.Unlock()
	}
}

func (r *bundleRecorder) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// assertOverlap checks the invariant of a trust change from old to new: the
// bundle never loses old before it has held both, and drops old only once
// every proxy of the namespace reports a certificate from newIssuer (an
// issuer signed by the new anchor). It ends with the bundle {new}.
func (r *bundleRecorder) assertOverlap(t *testing.T, old, new, newIssuer string) {
	t.Helper()
	r.halt()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.fails {
		t.Error(err)
	}
	var trail []string
	for _, s := range r.seen {
		trail = append(trail, shortSet(s.anchors))
	}
	sawBoth := false
	for i, s := range r.seen {
		hasOld, hasNew := slices.Contains(s.anchors, old), slices.Contains(s.anchors, new)
		sawBoth = sawBoth || (hasOld && hasNew)
		if hasOld || i == 0 {
			continue
		}
		if !sawBoth {
			t.Fatalf("bundle in %s dropped the old anchor %s before it ever held both (bundles seen: %s)", r.ns, old[:12], strings.Join(trail, " → "))
		}
		for pod, issuer := range s.issuers {
			if issuer != newIssuer {
				t.Fatalf("bundle in %s dropped the old anchor %s while proxy %s still held a certificate from issuer %.12s, not the new %.12s (bundles seen: %s)",
					r.ns, old[:12], pod, issuer, newIssuer, strings.Join(trail, " → "))
			}
		}
		break
	}
	if last := r.seen[len(r.seen)-1].anchors; !slices.Equal(last, []string{new}) {
		t.Fatalf("bundle in %s ends as %s, want {%s} (bundles seen: %s)", r.ns, shortSet(last), new[:12], strings.Join(trail, " → "))
	}
	t.Logf("bundles seen in %s: %s", r.ns, strings.Join(trail, " → "))
}

func shortSet(fps []string) string {
	var s []string
	for _, fp := range fps {
		s = append(s, fp[:12])
	}
	return "{" + strings.Join(s, ",") + "}"
}

// poke makes the operator look at an installation now (a Secret is not
// watched, so deleting one is noticed on the next pass).
func poke(t *testing.T, name string) {
	t.Helper()
	annotate(t, name, "test.meshkeeper.io/poke", time.Now().Format(time.RFC3339Nano))
}

// settledOn waits until no rotation is in progress and the anchor in effect
// is want, then returns the issuer's fingerprint.
func settledOn(t *testing.T, name, ns, want string) string {
	t.Helper()
	eventually(t, "trust settled on anchor "+want[:12], func() error {
		ts := getInstallation(t, name).Status.Trust
		if ts.Rotation != nil {
			return fmt.Errorf("rotation in phase %s: %s", ts.Rotation.Phase, ts.Rotation.Message)
		}
		if ts.Anchor == nil || ts.Anchor.Fingerprint != want {
			return fmt.Errorf("anchor in effect %+v", ts.Anchor)
		}
		if !slices.Equal(ts.BundleFingerprints, []string{want}) {
			return fmt.Errorf("bundle %v", ts.BundleFingerprints)
		}
		return nil
	})
	issuer := secretKeyPair(t, ns, trust.IssuerSecret)
	anchor := certOf(t, want, getInstallation(t, name))
	if err := pki.VerifyIssuedBy(issuer.Cert, anchor, time.Now()); err != nil {
		t.Fatalf("issuer not signed by the anchor in effect: %v", err)
	}
	return pki.Fingerprint(issuer.Cert)
}

func certOf(t *testing.T, fp string, mi *meshv1.MeshInstallation) *x509.Certificate {
	t.Helper()
	var cm corev1.ConfigMap
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: mi.Spec.ControlPlane.Namespace, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
		t.Fatal(err)
	}
	certs, _ := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
	for _, c := range certs {
		if pki.Fingerprint(c) == fp {
			return c
		}
	}
	t.Fatalf("anchor %s not in the bundle", fp[:12])
	return nil
}

func userAnchorSecret(t *testing.T, ns, name string) string {
	t.Helper()
	kp, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: "cluster.local", Now: time.Now(), Validity: 8760 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data: map[string][]byte{"tls.crt": kp.CertPEM, "tls.key": kp.KeyPEM}}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return pki.Fingerprint(kp.Cert)
}

func setAnchorRef(t *testing.T, name string, ref *meshv1.SecretReference) {
	t.Helper()
	mi := getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.Trust.AnchorSecretRef = ref
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
}

// A generated anchor Secret deleted by hand: its certificate is still in the
// bundle, and live certificates chain to it.
func TestDeletedAnchorSecretIsReplacedThroughTheRotationPhases(t *testing.T) {
	ctx := context.Background()
	mi := installReady(t, "lostanchor", "mk-lostanchor")
	old := mi.Status.Trust.Anchor.Fingerprint
	pod := meshedDeployment(t, "lost-app", "web")
	settledOn(t, "lostanchor", "mk-lostanchor", old)
	rec := recordBundle(t, "lost-app", pod)
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mk-lostanchor", Name: trust.AnchorSecret}}); err != nil {
		t.Fatal(err)
	}
	poke(t, "lostanchor")
	var newAnchor string
	eventually(t, "a new anchor is in effect", func() error {
		ts := getInstallation(t, "lostanchor").Status.Trust
		if ts.Rotation != nil || ts.Anchor == nil || ts.Anchor.Fingerprint == old {
			return fmt.Errorf("anchor %+v, rotation %+v", ts.Anchor, ts.Rotation)
		}
		newAnchor = ts.Anchor.Fingerprint
		return nil
	})
	issuer := settledOn(t, "lostanchor", "mk-lostanchor", newAnchor)
	rec.assertOverlap(t, old, newAnchor, issuer)
	assertRotatedTo(t, "mk-lostanchor", newAnchor, "lost-app")
}

// Generated → user-provided → generated: each switch of spec.trust.anchorSecretRef
// keeps the anchor in effect in the bundle until every proxy has moved.
func TestAnchorSourceSwitchesKeepTheOldAnchorUntilProxiesMoved(t *testing.T) {
	mi := installReady(t, "switch", "mk-switch")
	generated := mi.Status.Trust.Anchor.Fingerprint
	pod := meshedDeployment(t, "switch-app", "web")
	settledOn(t, "switch", "mk-switch", generated)

	rec := recordBundle(t, "switch-app", pod)
	user := userAnchorSecret(t, "mk-switch", "my-anchor")
	setAnchorRef(t, "switch", &meshv1.SecretReference{Name: "my-anchor"})
	issuer := settledOn(t, "switch", "mk-switch", user)
	rec.assertOverlap(t, generated, user, issuer)
	if src := getInstallation(t, "switch").Status.Trust.Anchor.Source; src != meshv1.SourceUserProvided {
		t.Fatalf("anchor source %s after the switch to a user anchor", src)
	}
	for _, name := range []string{trust.AnchorSecret, trust.NextAnchorSecret} {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "mk-switch", Name: name}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Fatalf("generated anchor Secret %s kept after the switch to a user anchor: %v", name, err)
		}
	}

	rec = recordBundle(t, "switch-app", pod)
	setAnchorRef(t, "switch", nil)
	var back string
	eventually(t, "a generated anchor is in effect", func() error {
		ts := getInstallation(t, "switch").Status.Trust
		if ts.Rotation != nil || ts.Anchor == nil || ts.Anchor.Source != meshv1.SourceGenerated {
			return fmt.Errorf("anchor %+v, rotation %+v", ts.Anchor, ts.Rotation)
		}
		back = ts.Anchor.Fingerprint
		return nil
	})
	if back == user || back == generated {
		t.Fatalf("switched back to %s, want a fresh generated anchor (user %s, first generated %s)", back[:12], user[:12], generated[:12])
	}
	issuer = settledOn(t, "switch", "mk-switch", back)
	rec.assertOverlap(t, user, back, issuer)
	assertRotatedTo(t, "mk-switch", back, "switch-app")
}

// The issuer Secret deleted by hand is re-issued at once, with no other
// change to start a pass: the trust Secrets are watched (the informer the
// steady passes read), and the pass that sees the deletion falls back to
// reads past the cache and writes.
func TestIssuerSecretDeletedByHandIsReissuedAtOnce(t *testing.T) {
	ctx := context.Background()
	mi := installReady(t, "lostissuer", "mk-lostissuer")
	anchor, issuer := mi.Status.Trust.Anchor.Fingerprint, mi.Status.Trust.Issuer.Fingerprint
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mk-lostissuer", Name: trust.IssuerSecret}}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "a new issuer under the same anchor", 20*time.Second, func() error {
		var s corev1.Secret
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-lostissuer", Name: trust.IssuerSecret}, &s); err != nil {
			return err
		}
		ts := getInstallation(t, "lostissuer").Status.Trust
		if ts.Issuer == nil || ts.Issuer.Fingerprint == issuer || ts.Anchor.Fingerprint != anchor {
			return fmt.Errorf("anchor %+v, issuer %+v", ts.Anchor, ts.Issuer)
		}
		return nil
	})
}
