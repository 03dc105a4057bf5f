package controllers

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// kubeletLag is how long the simulated injector keeps presenting its old
// certificate after the Secret changed, as the kubelet's refresh of a
// mounted Secret lags (about a minute in a real cluster).
const kubeletLag = 3 * time.Second

// TestWebhookCertificateRenewalOverlapsTheCAs moves the injected clock past
// the webhook certificate's renewal time and watches every step of the
// renewal: at each observed point the live webhook configuration's caBundle
// trusts both the serving certificate in the Secret and the one the injector
// still presents, and the old CA leaves it only once the injector presents
// the new certificate.
func TestWebhookCertificateRenewalOverlapsTheCAs(t *testing.T) {
	const name, ns = "webhook-renew", "mk-webhook-renew"
	t.Cleanup(testClock.reset) // registered first: runs after the installation is gone
	t.Cleanup(func() { injector.present(ns, nil) })
	mi := newInstallation(name, ns)
	// An anchor that outlives the jump, so only the webhook certificate renews.
	mi.Spec.Trust.Anchor = &meshv1.CertificateLifetime{Validity: metav1.Duration{Duration: 5 * 8760 * time.Hour}, RenewBefore: metav1.Duration{Duration: 720 * time.Hour}}
	installReadyFrom(t, mi)

	oldLeaf, oldCAs := injectorSecret(t, ns)
	if len(oldCAs) != 1 {
		t.Fatalf("a fresh install holds %d webhook CAs, want 1", len(oldCAs))
	}
	injector.present(ns, oldLeaf)
	eventually(t, "caBundle trusts the first serving certificate", func() error {
		if signerIn(liveCABundle(t, ns), oldLeaf) == nil {
			return fmt.Errorf("caBundle does not trust the serving certificate yet")
		}
		return nil
	})

	testClock.shift(336 * 24 * time.Hour) // past the renewal, 30 days before expiry
	var differsSince time.Time
	var sawOverlap, sawLag bool
	deadline := time.Now().Add(2 * waitFor)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("renewal did not finish: Secret serves %s, injector presents %s, caBundle holds %d CAs",
				short(injectorLeaf(t, ns)), short(injector.presented(ns)), len(liveCABundle(t, ns)))
		}
		if i%5 == 0 {
			annotate(t, name, "test.meshkeeper.io/poke", strconv.Itoa(i))
		}
		leaf := injectorLeaf(t, ns) // read before the bundle: a swap must follow the bundle, never lead it
		bundle := liveCABundle(t, ns)
		presented := injector.presented(ns)
		if signerIn(bundle, leaf) == nil {
			t.Fatalf("caBundle (%d CAs) does not trust the serving certificate %s now in the Secret", len(bundle), short(leaf))
		}
		if signerIn(bundle, presented) == nil {
			t.Fatalf("caBundle (%d CAs) does not trust the certificate %s the injector still presents (Secret now holds %s): admission fails open",
				len(bundle), short(presented), short(leaf))
		}
		sawOverlap = sawOverlap || len(bundle) > 1
		sawLag = sawLag || (!leaf.Equal(oldLeaf) && presented.Equal(oldLeaf))
		// The simulated kubelet: the injector picks up the Secret's pair a while after it changed.
		switch {
		case presented.Equal(leaf):
			differsSince = time.Time{}
		case differsSince.IsZero():
			differsSince = time.Now()
		case time.Since(differsSince) > kubeletLag:
			injector.present(ns, leaf)
		}
		if !leaf.Equal(oldLeaf) && presented.Equal(leaf) && len(bundle) == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !sawOverlap || !sawLag {
		t.Errorf("renewal not observed in its overlap: both CAs in the caBundle %v, new pair in the Secret while the injector presented the old %v", sawOverlap, sawLag)
	}
	leaf, cas := injectorSecret(t, ns)
	if len(cas) != 1 || pki.VerifyIssuedBy(leaf, cas[0], leaf.NotBefore.Add(time.Second)) != nil || cas[0].Equal(oldCAs[0]) {
		t.Fatalf("after the renewal the Secret's ca.crt holds %d CAs, want only the new CA that signed %s", len(cas), short(leaf))
	}
	assertOnlyServingKeys(t, ns)
}

// injectorSecret reads the serving leaf and the CAs of the injector's Secret.
func injectorSecret(t *testing.T, ns string) (*x509.Certificate, []*x509.Certificate) {
	t.Helper()
	var s corev1.Secret
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: contract.InjectorTLSSecret}, &s); err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.ParseCertificates(s.Data[corev1.TLSCertKey])
	if err != nil {
		t.Fatalf("injector Secret tls.crt: %v", err)
	}
	cas, err := pki.ParseCertificates(s.Data["ca.crt"])
	if err != nil {
		t.Fatalf("injector Secret ca.crt: %v", err)
	}
	return leaf[0], cas
}

func injectorLeaf(t *testing.T, ns string) *x509.Certificate {
	t.Helper()
	leaf, _ := injectorSecret(t, ns)
	return leaf
}

// assertOnlyServingKeys checks that nothing staged is left in the Secret.
func assertOnlyServingKeys(t *testing.T, ns string) {
	t.Helper()
	var s corev1.Secret
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: contract.InjectorTLSSecret}, &s); err != nil {
		t.Fatal(err)
	}
	for k := range s.Data {
		if !slices.Contains([]string{"ca.crt", corev1.TLSCertKey, corev1.TLSPrivateKeyKey}, k) {
			t.Errorf("injector Secret still holds %q after the renewal", k)
		}
	}
}

// liveCABundle is the caBundle the API server uses to call the injector.
func liveCABundle(t *testing.T, ns string) []*x509.Certificate {
	t.Helper()
	var wh admissionv1.MutatingWebhookConfiguration
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "meshkeeper-proxy-injector-" + ns}, &wh); err != nil {
		t.Fatal(err)
	}
	if len(wh.Webhooks) != 1 {
		t.Fatalf("webhook configuration has %d webhooks", len(wh.Webhooks))
	}
	cas, err := pki.ParseCertificates(wh.Webhooks[0].ClientConfig.CABundle)
	if err != nil {
		t.Fatalf("caBundle: %v", err)
	}
	return cas
}

// signerIn returns the CA of bundle that signed leaf, nil when none did.
func signerIn(bundle []*x509.Certificate, leaf *x509.Certificate) *x509.Certificate {
	for _, ca := range bundle {
		if pki.VerifyIssuedBy(leaf, ca, leaf.NotBefore.Add(time.Second)) == nil {
			return ca
		}
	}
	return nil
}

func short(c *x509.Certificate) string {
	if c == nil {
		return "none"
	}
	return pki.ShortFingerprint(pki.Fingerprint(c))
}
