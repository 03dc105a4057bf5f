package identity

import (
	"context"
	"encoding/pem"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
)

const testNS = "mesh-system"

func issuerSecret(ca *testCA, cert []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: contract.IssuerSecret, Namespace: testNS},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: ca.keyPEM},
	}
}

func bundleConfigMap(cas ...*testCA) *corev1.ConfigMap {
	var data []byte
	for _, ca := range cas {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.anchor.Raw})...)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: contract.TrustRootsConfigMap, Namespace: testNS},
		Data:       map[string]string{contract.TrustRootsKey: string(data)},
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Until(t, what, 10*time.Second, cond)
}

func startWatcher(t *testing.T, objects ...any) (*IssuerWatcher, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	for _, o := range objects {
		var err error
		switch o := o.(type) {
		case *corev1.Secret:
			_, err = client.CoreV1().Secrets(testNS).Create(t.Context(), o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = client.CoreV1().ConfigMaps(testNS).Create(t.Context(), o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	w := NewIssuerWatcher(client, WatchConfig{Namespace: testNS, IssuerSecret: contract.IssuerSecret,
		TrustRootsConfigMap: contract.TrustRootsConfigMap, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "watcher sync", w.Synced)
	return w, client
}

func hasIssuer(src IssuerSource, ca *testCA) func() bool {
	return func() bool {
		cur := src.Current()
		return cur != nil && cur.Fingerprint == ca.issuer.Fingerprint
	}
}

func TestIssuerWatcherFollowsRotationInOrder(t *testing.T) {
	oldCA := newTestCA(t, "old", time.Now().Add(time.Hour))
	newCA := newTestCA(t, "new", time.Now().Add(time.Hour))
	w, client := startWatcher(t, issuerSecret(oldCA, oldCA.issuerPEM), bundleConfigMap(oldCA))
	eventually(t, "the first issuer", hasIssuer(w, oldCA))

	secrets, configMaps := client.CoreV1().Secrets(testNS), client.CoreV1().ConfigMaps(testNS)
	// A broken Secret update keeps the working issuer.
	if _, err := secrets.Update(t.Context(), issuerSecret(oldCA, []byte("garbage")), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The issuer switches before the bundle lists its anchor: held back...
	if _, err := secrets.Update(t.Context(), issuerSecret(newCA, newCA.issuerPEM), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// ...until the bundle publishes the new anchor; then adopted, with no restart.
	if _, err := configMaps.Update(t.Context(), bundleConfigMap(oldCA, newCA), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new issuer", hasIssuer(w, newCA))
}

func TestIssuerWatcherHoldsUntrustedIssuer(t *testing.T) {
	oldCA := newTestCA(t, "old", time.Now().Add(time.Hour))
	newCA := newTestCA(t, "new", time.Now().Add(time.Hour))
	w, client := startWatcher(t, issuerSecret(oldCA, oldCA.issuerPEM), bundleConfigMap(oldCA))
	eventually(t, "the first issuer", hasIssuer(w, oldCA))
	if _, err := client.CoreV1().Secrets(testNS).Update(t.Context(), issuerSecret(newCA, newCA.issuerPEM), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Prove the update was processed: a later bundle change still re-runs the gate
	// against the held candidate, which stays held while the bundle lacks its anchor.
	if _, err := client.CoreV1().ConfigMaps(testNS).Update(t.Context(), bundleConfigMap(oldCA), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the candidate to be seen", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.candidate != nil && w.candidate.Fingerprint == newCA.issuer.Fingerprint
	})
	if !hasIssuer(w, oldCA)() {
		t.Fatal("an issuer outside the trust bundle was adopted")
	}
}

func TestIssuerWatcherWithoutBundleAdoptsUnchecked(t *testing.T) {
	ca := newTestCA(t, "only", time.Now().Add(time.Hour))
	w, _ := startWatcher(t, issuerSecret(ca, ca.issuerPEM))
	eventually(t, "the issuer", hasIssuer(w, ca))
}
