package identity_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
	"github.com/meshkeeper/meshkeeper/proxy/identity"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeIdentityService signs CSRs with ca for a fixed lifetime measured on clk,
// recording the tokens it saw; fail makes it answer 500.
type fakeIdentityService struct {
	t        *testing.T
	ca       *testpki.CA
	clk      *clocktest.Fake
	lifetime time.Duration

	mu     sync.Mutex
	tokens []string
	fail   bool
}

func (f *fakeIdentityService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req contract.CertifyRequest
	if r.URL.Path != contract.IdentityPath || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.tokens = append(f.tokens, req.Token)
	if f.fail {
		http.Error(w, "issuer unavailable", http.StatusInternalServerError)
		return
	}
	block, _ := pem.Decode([]byte(req.CSR))
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := f.clk.Now()
	leaf := f.ca.Sign(f.t, csr.PublicKey, "spiffe://td/ns/app/sa/web", nil, now.Add(-time.Minute), now.Add(f.lifetime))
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	chain = append(chain, f.ca.PEM()...)
	_ = json.NewEncoder(w).Encode(contract.CertifyResponse{CertificateChain: string(chain), NotAfter: leaf.NotAfter})
}

func (f *fakeIdentityService) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

func startTLS(t *testing.T, ca *testpki.CA, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, "", "127.0.0.1")}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestRenewsBeforeExpiryWithFakeClock(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	// Whole seconds: certificates carry no sub-second validity.
	clk := clocktest.New(time.Now().Truncate(time.Second))
	svc := &fakeIdentityService{t: t, ca: ca, clk: clk, lifetime: time.Hour}
	srv := startTLS(t, ca, svc)
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte("token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &identity.Client{
		Addr: srv.Listener.Addr().String(), TokenPath: tokenPath, Identity: "spiffe://td/ns/app/sa/web",
		Roots: testpki.Static{Roots: ca.Pool()}, Clock: clk, Log: quiet, Jitter: func() float64 { return 0.5 },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)

	wait, ok := clk.NextWakeup(ctx.Done())
	if !ok || c.Current() == nil {
		t.Fatal("no certificate after the first request")
	}
	first := c.Current()
	// Leaf valid one hour from issue: renewal planned at 70% of it.
	if want := 42 * time.Minute; wait != want {
		t.Fatalf("renewal planned in %v, want %v", wait, want)
	}
	if got, want := c.IssuerLabel(), tlsid.Fingerprint(ca.Cert); got != want {
		t.Fatalf("issuer label %q, want %q", got, want)
	}
	// kubelet rotated the token: the renewal must send the new one.
	if err := os.WriteFile(tokenPath, []byte("token-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Advance(wait)
	if _, ok := clk.NextWakeup(ctx.Done()); !ok {
		t.Fatal("client stopped")
	}
	second := c.Current()
	if second == first || !second.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatal("certificate not renewed")
	}
	if !clk.Now().Before(first.Leaf.NotAfter) {
		t.Fatal("renewed only after expiry")
	}
	if got := svc.seen(); len(got) != 2 || got[0] != "token-1" || got[1] != "token-2" {
		t.Fatalf("tokens sent %q", got)
	}
	if second.PrivateKey == first.PrivateKey {
		t.Fatal("key reused across renewals")
	}

	// The service fails: the client retries with backoff and keeps its certificate.
	svc.mu.Lock()
	svc.fail = true
	svc.mu.Unlock()
	wait, _ = clk.NextWakeup(ctx.Done())
	clk.Advance(wait)
	if wait, _ = clk.NextWakeup(ctx.Done()); wait != identity.RetryBase {
		t.Fatalf("retry planned in %v, want %v", wait, identity.RetryBase)
	}
	clk.Advance(wait)
	if wait, _ = clk.NextWakeup(ctx.Done()); wait != 2*identity.RetryBase {
		t.Fatalf("second retry planned in %v, want %v", wait, 2*identity.RetryBase)
	}
	if c.Current() != second {
		t.Fatal("certificate dropped on failure")
	}
}

func TestRefusesUntrustedIdentityService(t *testing.T) {
	ca, other := testpki.NewCA(t, "anchor"), testpki.NewCA(t, "other")
	clk := clocktest.New(time.Now())
	srv := startTLS(t, other, &fakeIdentityService{t: t, ca: other, clk: clk, lifetime: time.Hour})
	c := &identity.Client{Addr: srv.Listener.Addr().String(), TokenPath: writeToken(t, "t"), Roots: testpki.Static{Roots: ca.Pool()}, Clock: clk, Log: quiet}
	if _, err := c.Certify(context.Background()); err == nil {
		t.Fatal("certificate accepted from a service outside the trust bundle")
	}
}

func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
