package trust

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

// countingReader counts the reads that reach the API server, by name.
type countingReader struct {
	client.Reader
	mu   sync.Mutex
	gets map[string]int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.mu.Lock()
	c.gets[key.Name]++
	c.mu.Unlock()
	return c.Reader.Get(ctx, key, obj, opts...)
}

// A prefetched read stands in for the first read of its object only: the
// next read (before a write, say) reaches the API server again, and a
// missing object stays NotFound.
func TestPrefetchedReadsAreUsedOnce(t *testing.T) {
	ctx := context.Background()
	const ns = "meshkeeper-system"
	c := kubeenv.NewFakeClient(nil,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: AnchorSecret}, Data: map[string][]byte{keyCert: []byte("anchor")}})
	reader := &countingReader{Reader: c, gets: map[string]int{}}
	m := &Manager{Client: c, APIReader: reader, Clock: clocktesting.NewFakePassiveClock(time.Unix(0, 0))}
	mi := &meshv1.MeshInstallation{}
	mi.Spec.ControlPlane.Namespace = ns

	pctx := m.prefetch(ctx, firstReads(mi))
	want := map[string]int{BundleConfigMap: 1, AnchorSecret: 1, NextAnchorSecret: 1, IssuerSecret: 1, InjectorTLSSecret: 1}
	if !equalCounts(reader.gets, want) {
		t.Fatalf("prefetch read %v, want %v", reader.gets, want)
	}
	s, err := m.readSecret(pctx, ns, AnchorSecret)
	if err != nil || string(s.Data[keyCert]) != "anchor" {
		t.Fatalf("prefetched anchor: %v, %v", s, err)
	}
	if _, err := m.readSecret(pctx, ns, NextAnchorSecret); !apierrors.IsNotFound(err) {
		t.Fatalf("a missing Secret read from the prefetch: %v, want NotFound", err)
	}
	if b, err := m.readBundle(pctx, ns); b != nil || err != nil {
		t.Fatalf("a missing bundle read from the prefetch: %v, %v", b, err)
	}
	if !equalCounts(reader.gets, want) {
		t.Fatalf("first reads went to the API server again: %v", reader.gets)
	}
	if _, err := m.readSecret(pctx, ns, AnchorSecret); err != nil {
		t.Fatal(err)
	}
	if reader.gets[AnchorSecret] != 2 {
		t.Fatalf("a second read of the anchor was answered from the prefetch (%d API reads)", reader.gets[AnchorSecret])
	}
	if _, err := m.readSecret(ctx, ns, IssuerSecret); !apierrors.IsNotFound(err) || reader.gets[IssuerSecret] != 2 {
		t.Fatalf("a read outside the Load's context used its prefetch: %v, %d API reads", err, reader.gets[IssuerSecret])
	}
}

// A user-provided anchor is prefetched by its own name, not the generated ones.
func TestFirstReadsOfAUserAnchor(t *testing.T) {
	mi := &meshv1.MeshInstallation{}
	mi.Spec.ControlPlane.Namespace = "cp"
	mi.Spec.Trust.AnchorSecretRef = &meshv1.SecretReference{Name: "mine"}
	names := map[string]bool{}
	for _, o := range firstReads(mi) {
		names[o.GetName()] = o.GetNamespace() == "cp"
	}
	if !names["mine"] || !names[IssuerSecret] || !names[InjectorTLSSecret] || !names[BundleConfigMap] || len(names) != 4 {
		t.Fatalf("first reads %v", names)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
