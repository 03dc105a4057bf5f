package identity_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	identitysvc "github.com/meshkeeper/meshkeeper/internal/identity"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/identity"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// reviewer authenticates every token as the ServiceAccount app/web.
type reviewer struct{}

func (reviewer) Review(context.Context, string) (identitysvc.TokenReview, error) {
	return identitysvc.TokenReview{
		Authenticated: true,
		Username:      "system:serviceaccount:app:web",
		Audiences:     []string{contract.IdentityTokenAudience},
	}, nil
}

// TestAgainstRealIdentityService obtains a certificate from the control
// plane's identity server, reached by its Service DNS name as in a cluster.
func TestAgainstRealIdentityService(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	keyDER, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := identitysvc.ParseIssuer(ca.PEM(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	const td, ns = "cluster.local", "meshkeeper"
	srv, err := identitysvc.NewServer(identitysvc.Config{
		TrustDomain: td, LeafTTL: time.Hour, Reviewer: reviewer{},
		Issuer: identitysvc.NewStaticIssuer(issuer), ServingDNSNames: identitysvc.ServingDNSNames(ns), Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, ln) }()

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c := &identity.Client{
		Addr:      contract.IdentityServiceName + "." + ns + ".svc:" + port,
		TokenPath: writeToken(t, "projected-token"),
		Identity:  contract.SPIFFEID(td, "app", "web"),
		Roots:     testpki.Static{Roots: ca.Pool()}, Clock: clock.Real{}, Log: quiet,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		},
	}
	cert, err := c.Certify(ctx)
	if err != nil {
		t.Fatalf("certify against the real service: %v", err)
	}
	id, err := tlsid.VerifyPeer(cert.Certificate, ca.Pool(), time.Now, td, contract.SPIFFEID(td, "app", "web"))
	if err != nil {
		t.Fatalf("issued certificate does not verify as app/web: %v (%s)", err, id)
	}
}
