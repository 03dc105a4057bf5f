package identity

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func issuerSecret(ca *testCA, cert []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: contract.IssuerSecret, Namespace: "mesh-system"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: ca.keyPEM},
	}
}

func waitForIssuer(t *testing.T, src IssuerSource, fingerprint string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) {
			cur := src.Current()
			return cur != nil && cur.Fingerprint == fingerprint, nil
		})
	if err != nil {
		t.Fatalf("issuer %s never loaded: %v", fingerprint, err)
	}
}

func TestSecretIssuerSourceLoadsAndReloads(t *testing.T) {
	first := newTestCA(t, "first", time.Now().Add(time.Hour))
	second := newTestCA(t, "second", time.Now().Add(time.Hour))
	client := fake.NewClientset(issuerSecret(first, first.issuerPEM))
	src := NewSecretIssuerSource(client, "mesh-system", contract.IssuerSecret, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)

	waitForIssuer(t, src, first.issuer.Fingerprint)
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return src.Synced(), nil }); err != nil {
		t.Fatal("source never reported synced")
	}

	// A broken update keeps the working issuer.
	secrets := client.CoreV1().Secrets("mesh-system")
	if _, err := secrets.Update(ctx, issuerSecret(first, []byte("garbage")), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Then a real rotation replaces it, with no restart.
	if _, err := secrets.Update(ctx, issuerSecret(second, second.issuerPEM), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForIssuer(t, src, second.issuer.Fingerprint)
}
