package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/discovery"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/identity"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
)

// TestDiscoveryAdvertisesTheIssuerInUse wires the issuer watcher to the
// discovery broadcaster as runIdentity does: snapshots carry the fingerprint
// of the issuer that signs now, a held-back candidate is not advertised, and
// the adoption of a new issuer publishes a new snapshot at once.
func TestDiscoveryAdvertisesTheIssuerInUse(t *testing.T) {
	const ns = "mesh-system"
	oldPKI, newPKI := newTestPKI(t, "old", true), newTestPKI(t, "new", true)
	fingerprint := func(p testPKI) string {
		block, _ := pem.Decode(p.certPEM)
		sum := sha256.Sum256(block.Bytes)
		return hex.EncodeToString(sum[:])
	}
	secret := func(p testPKI) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: contract.IssuerSecret, Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: p.certPEM, corev1.TLSPrivateKeyKey: p.keyPEM}}
	}
	bundle := func(ps ...testPKI) *corev1.ConfigMap {
		var data []byte
		for _, p := range ps {
			data = append(data, p.anchorPEM...)
		}
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: contract.TrustRootsConfigMap, Namespace: ns},
			Data: map[string]string{contract.TrustRootsKey: string(data)}}
	}
	client := fake.NewClientset(secret(oldPKI), bundle(oldPKI))
	quiet := slog.New(slog.DiscardHandler)
	issuers := identity.NewIssuerWatcher(client, identity.WatchConfig{Namespace: ns, IssuerSecret: contract.IssuerSecret,
		TrustRootsConfigMap: contract.TrustRootsConfigMap, Logger: quiet})
	snapshots := discovery.NewBroadcaster()
	if _, err := snapshots.Publish(contract.DiscoverySnapshot{Pods: map[string]contract.MeshedPod{"10.0.0.1": {Identity: "spiffe://cluster.local/ns/a/sa/web"}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{}, 2)
	go func() { issuers.Run(ctx); done <- struct{}{} }()
	go func() { advertiseIssuer(ctx, issuers, snapshots, quiet); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	advertised := func(want string) {
		t.Helper()
		testsupport.Eventually(t, "advertised issuer", 10*time.Second, func() error {
			if got := snapshots.Latest().Snapshot.Issuer; got != want {
				return fmt.Errorf("advertised issuer %q, want %q", got, want)
			}
			return nil
		})
	}
	advertised(fingerprint(oldPKI))
	first := snapshots.Latest().Snapshot
	if first.Revision != 2 || first.Pods["10.0.0.1"].Identity != "spiffe://cluster.local/ns/a/sa/web" {
		t.Fatalf("issuer snapshot %+v: want revision 2 keeping the table", first)
	}

	// The Secret gets an issuer whose anchor is not published yet: the identity
	// service keeps signing with the old one, and so discovery keeps advertising it.
	if _, err := client.CoreV1().Secrets(ns).Update(ctx, secret(newPKI), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := snapshots.Latest().Snapshot; got.Issuer != fingerprint(oldPKI) || got.Revision != first.Revision {
		t.Fatalf("held-back issuer advertised: %+v", got)
	}
	// The bundle catches up: the new issuer is adopted and advertised in a new snapshot.
	if _, err := client.CoreV1().ConfigMaps(ns).Update(ctx, bundle(oldPKI, newPKI), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	advertised(fingerprint(newPKI))
	if got := snapshots.Latest().Snapshot; got.Revision != first.Revision+1 || got.Pods["10.0.0.1"].Identity != "spiffe://cluster.local/ns/a/sa/web" {
		t.Fatalf("snapshot after adoption %+v", got)
	}
}
