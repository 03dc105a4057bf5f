package controllers

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/controlplane/identity"
	"github.com/meshkeeper/meshkeeper/internal/operator/probe"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// TestIdentityIssuanceProbe runs the control-plane gate's identity probe
// against the real identity server, which reviews the probe's token with a
// real TokenReview: the probe mints the token with a TokenRequest and
// verifies the issued chain. A bundle that does not hold the anchor fails it.
func TestIdentityIssuanceProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns, td = "probe-identity", "cluster.local"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	anchor, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: td, Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	issuerKP, err := pki.GenerateIssuer(pki.IssuerRequest{Anchor: anchor, TrustDomain: td, Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := identity.ParseIssuer(append(issuerKP.CertPEM, anchor.CertPEM...), issuerKP.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := identity.NewServer(identity.Config{TrustDomain: td, LeafTTL: time.Hour,
		Reviewer: identity.KubeTokenReviewer{Client: cs}, Issuer: identity.NewStaticIssuer(issuer),
		ServingDNSNames: identity.ServingDNSNames(ns), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()

	probe := probe.IdentityIssuance{Client: k8s, Namespace: ns, ServiceAccount: "operator",
		// The Service name resolves only in a cluster: dial the server directly.
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		}}}
	if err := probe.Probe(ctx, ns, td, []*x509.Certificate{anchor.Cert}); err != nil {
		t.Fatalf("probe against a real identity service: %v", err)
	}
	other, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: td, Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := probe.Probe(ctx, ns, td, []*x509.Certificate{other.Cert}); err == nil || !strings.Contains(err.Error(), "not issuing") {
		t.Fatalf("a service not trusted by the bundle must fail the probe: %v", err)
	}
}
