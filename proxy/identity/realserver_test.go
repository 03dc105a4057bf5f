package identity_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	identitysvc "github.com/meshkeeper/meshkeeper/internal/controlplane/identity"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
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

// realIssuer turns a test CA into an issuer of the control plane's identity service.
func realIssuer(t *testing.T, ca *testpki.CA) *identitysvc.Issuer {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := identitysvc.ParseIssuer(ca.PEM(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return issuer
}

// TestAdvertisedIssuerHastensRenewal runs the client against the real
// identity service on loopback, with renewals scheduled on a fake clock:
// an advertised issuer equal to the certificate's changes nothing; the
// service switching issuer and discovery advertising it makes the client
// renew within HastenWindow, once per distinct advertised issuer.
func TestAdvertisedIssuerHastensRenewal(t *testing.T) {
	oldCA, newCA := testpki.NewCA(t, "old"), testpki.NewCA(t, "new")
	oldIssuer, newIssuer := realIssuer(t, oldCA), realIssuer(t, newCA)
	issuers := identitysvc.NewStaticIssuer(oldIssuer)
	srv, err := identitysvc.NewServer(identitysvc.Config{
		TrustDomain: "cluster.local", LeafTTL: time.Hour, Reviewer: reviewer{}, Issuer: issuers,
		ServingDNSNames: identitysvc.ServingDNSNames("meshkeeper"), Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		srv.Handler().ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = identitysvc.ServeTLS(ctx, ln, counting, srv.ServingCert()) }()

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	clk := clocktest.New(time.Now().Truncate(time.Second))
	c := &identity.Client{
		Addr:      contract.IdentityServiceName + ".meshkeeper.svc:" + port,
		TokenPath: writeToken(t, "projected-token"), Identity: contract.SPIFFEID("cluster.local", "app", "web"),
		// The serving certificate may come from either issuer during the rotation.
		Roots: testpki.Static{Roots: bothPools(oldCA, newCA)}, Clock: clk, Log: quiet, Jitter: func() float64 { return 0.5 },
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		},
	}
	go c.Run(ctx)
	wakeup := func() time.Duration {
		d, ok := clk.NextWakeup(ctx.Done())
		if !ok {
			t.Fatal("client stopped")
		}
		return d
	}
	// The earliest pending wake-up settles on want once Run has reacted.
	expectWakeup := func(want time.Duration) {
		t.Helper()
		testsupport.Eventually(t, "the next wake-up", 5*time.Second, func() error {
			if got := wakeup(); got != want {
				return fmt.Errorf("next wake-up in %v, want %v", got, want)
			}
			return nil
		})
	}
	expectWakeup(42 * time.Minute)
	if c.IssuerLabel() != oldIssuer.Fingerprint {
		t.Fatalf("first certificate from %q", c.IssuerLabel())
	}

	// Discovery advertises the issuer the certificate already has: nothing changes.
	c.AdvertisedIssuer(oldIssuer.Fingerprint)
	c.AdvertisedIssuer("")
	time.Sleep(100 * time.Millisecond)
	if w := wakeup(); w != 42*time.Minute || requests.Load() != 1 {
		t.Fatalf("matching issuer: next wake-up %v, %d requests", w, requests.Load())
	}

	// The identity service adopts the new issuer and discovery advertises it:
	// renewal within the jittered window (0.5 × 2 s), long before 70%.
	issuers.Set(newIssuer)
	c.AdvertisedIssuer(newIssuer.Fingerprint)
	expectWakeup(identity.HastenWindow / 2)
	clk.Advance(identity.HastenWindow / 2)
	eventually(t, "the hastened renewal", func() bool {
		return c.IssuerLabel() == newIssuer.Fingerprint && requests.Load() == 2
	})
	c.AdvertisedIssuer(newIssuer.Fingerprint) // repeated snapshots change nothing
	time.Sleep(100 * time.Millisecond)
	if requests.Load() != 2 {
		t.Fatalf("%d requests after a repeated advertisement", requests.Load())
	}

	// Advertised too early (the service still signs with the new one while a
	// third is announced): one early renewal, which does not repeat.
	thirdCA := testpki.NewCA(t, "third")
	c.AdvertisedIssuer(realIssuer(t, thirdCA).Fingerprint)
	expectWakeup(identity.HastenWindow / 2)
	clk.Advance(identity.HastenWindow / 2)
	eventually(t, "the second early renewal", func() bool { return requests.Load() == 3 })
	time.Sleep(100 * time.Millisecond)
	if requests.Load() != 3 || c.IssuerLabel() != newIssuer.Fingerprint {
		t.Fatalf("after the renewal for an issuer not in use yet: %d requests, issuer %q", requests.Load(), c.IssuerLabel())
	}
	if w := wakeup(); w < time.Minute {
		t.Fatalf("renewal repeated for the same advertised issuer: next wake-up in %v", w)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Until(t, what, 5*time.Second, cond)
}

func bothPools(cas ...*testpki.CA) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca.Cert)
	}
	return pool
}
