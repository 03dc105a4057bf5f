package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

const userAnchorSecret = "user-anchor"

// userAnchor generates a user-provided anchor and stores it in the Secret
// spec.trust.anchorSecretRef names, as a user replacing it by hand does.
func (f *runnerFixture) userAnchor() string {
	f.t.Helper()
	kp, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: "cluster.local", Now: f.clock.Now(), Validity: 365 * 24 * time.Hour})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cpNS, Name: userAnchorSecret},
		Data: map[string][]byte{corev1.TLSCertKey: kp.CertPEM, corev1.TLSPrivateKeyKey: kp.KeyPEM}}
	if err := f.c.Create(ctx, s); apierrors.IsAlreadyExists(err) {
		err = f.c.Update(ctx, s)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return pki.Fingerprint(kp.Cert)
}

// issuerSigner is the fingerprint of the bundle anchor in ns that signs the
// current issuer: the anchor every live workload certificate chains to. ""
// when no anchor of the bundle does — trust would be cut over.
func (f *runnerFixture) issuerSigner(ns string) string {
	f.t.Helper()
	ctx := context.Background()
	var s corev1.Secret
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: trust.IssuerSecret}, &s); err != nil {
		f.t.Fatalf("issuer: %v", err)
	}
	issuer, err := pki.ParseKeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		f.t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: trust.BundleConfigMap}, &cm); err != nil {
		f.t.Fatalf("bundle in %s: %v", ns, err)
	}
	anchors, err := pki.ParseCertificates([]byte(cm.Data[trust.BundleKey]))
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range anchors {
		if pki.VerifyIssuedBy(issuer.Cert, a, f.clock.Now()) == nil {
			return pki.Fingerprint(a)
		}
	}
	return ""
}

// passUntil runs passes one second apart, checking after each that the
// bundle of the workloads' namespace still holds the anchor the issuer
// chains to, until done says so.
func (f *runnerFixture) passUntil(what string, done func() bool) {
	f.t.Helper()
	for range 60 {
		f.clock.Step(time.Second)
		if err := f.pass(); err != nil {
			f.t.Fatalf("%s: %v", what, err)
		}
		if f.issuerSigner("app") == "" {
			f.t.Fatalf("%s: bundle %v holds no anchor the issuer chains to (phase %+v)", what,
				pki.ShortFingerprint(f.bundleIn("app")[0]), f.mi.Status.Trust.Rotation)
		}
		if done() {
			return
		}
	}
	f.t.Fatalf("%s: not reached in 60 passes; rotation %+v", what, f.mi.Status.Trust.Rotation)
}

func (f *runnerFixture) inPhase(phases ...Phase) func() bool {
	return func() bool {
		r := f.mi.Status.Trust.Rotation
		if r == nil {
			return false
		}
		for _, p := range phases {
			if r.Phase == string(p) {
				return true
			}
		}
		return false
	}
}

func (f *runnerFixture) settledOn(fp string) func() bool {
	return func() bool {
		b := f.bundleIn("app")
		return f.mi.Status.Trust.Rotation == nil && len(b) == 1 && b[0] == fp && f.issuerSigner("app") == fp
	}
}

// A user anchor replaced twice during a rotation, before and after the issuer
// switched: the bundle never lacks the anchor live certificates chain to, and
// trust ends on the latest anchor alone.
func TestRunnerUserAnchorReplacedTwiceNeverCutsTrustOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		// secondAt is where the rotation to the first replacement stands when
		// the second replacement lands.
		secondAt []Phase
		// hold keeps the meshed pod's proxy on the bundle it saw at the issuer
		// switch, so the rotation waits after it (proxies that follow at once
		// let a rotation pass the switch and finish within one pass).
		hold bool
	}{
		{"before the issuer switched", []Phase{PhasePublish, PhaseAwaitBundle}, false},
		{"after the issuer switched", []Phase{PhaseAwaitCerts, PhaseRetire, PhaseAwaitRetire}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRunnerFixture(t)
			first := f.userAnchor()
			f.mi.Spec.Trust.AnchorSecretRef = &meshv1.SecretReference{Name: userAnchorSecret}
			f.passUntil("steady on the first user anchor", f.settledOn(first))

			second := f.userAnchor()
			if tc.hold {
				// Before the switch, the pod holds a certificate from the issuer
				// of the first anchor, and keeps it.
				f.passUntil("new bundle published", f.inPhase(PhasePublish, PhaseAwaitBundle))
				f.proxies.stuckIssuer["db-0"] = f.proxies.issuer(context.Background())
			}
			f.passUntil("rotation to the second anchor under way", f.inPhase(tc.secondAt...))
			if got := f.mi.Status.Trust.Rotation.NewAnchor; got != second {
				t.Fatalf("rotating to %s, want the replacement %s", pki.ShortFingerprint(got), pki.ShortFingerprint(second))
			}
			third := f.userAnchor()
			if tc.hold {
				// The pod's certificate still chains to the first anchor: it stays
				// trusted however the anchors change meanwhile.
				for i := range 5 {
					f.passUntil("a pass", func() bool { return true })
					if !slices.Contains(f.bundleIn("app"), first) {
						t.Fatalf("pass %d after the second replacement dropped the anchor a live certificate chains to (bundle %v, rotation %+v)",
							i, f.bundleIn("app"), f.mi.Status.Trust.Rotation)
					}
				}
				delete(f.proxies.stuckIssuer, "db-0")
			}
			f.passUntil("settled on the latest user anchor", f.settledOn(third))
			if f.mi.Status.Trust.LastRotation == nil {
				t.Fatal("no rotation recorded")
			}
		})
	}
}
