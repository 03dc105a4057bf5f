package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

const testTrustDomain = "cluster.local"

// fakeReviewer authenticates the tokens it knows.
type fakeReviewer map[string]TokenReview

func (f fakeReviewer) Review(_ context.Context, token string) (TokenReview, error) {
	if token == "review-down" {
		return TokenReview{}, errors.New("apiserver unreachable")
	}
	return f[token], nil
}

var testReviewer = fakeReviewer{
	"web-token":  {Authenticated: true, Username: "system:serviceaccount:shop:web", Audiences: []string{contract.IdentityTokenAudience}},
	"user-token": {Authenticated: true, Username: "alice", Audiences: []string{contract.IdentityTokenAudience}},
	"wrong-aud":  {Authenticated: true, Username: "system:serviceaccount:shop:web", Audiences: []string{"https://kubernetes.default.svc"}},
}

type loopback struct {
	url    string
	client *http.Client
	clock  *clocktesting.FakePassiveClock
	source *StaticIssuer
	server *Server
}

// startLoopback serves a real identity Server on 127.0.0.1 over TLS.
func startLoopback(t *testing.T, ca *testCA, ttl time.Duration) *loopback {
	t.Helper()
	clk := clocktesting.NewFakePassiveClock(time.Now())
	var issuer *Issuer
	if ca != nil {
		issuer = ca.issuer
	}
	source := NewStaticIssuer(issuer)
	srv, err := NewServer(Config{
		TrustDomain: testTrustDomain, LeafTTL: ttl, Clock: clk, Reviewer: testReviewer,
		Issuer: source, ServingDNSNames: ServingDNSNames("mesh-system"), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	lb := &loopback{url: "https://" + ln.Addr().String(), clock: clk, source: source, server: srv}
	lb.trust(ca)
	return lb
}

// trust makes the client verify the server against ca's anchor, by Service name.
func (lb *loopback) trust(ca *testCA) {
	cfg := &tls.Config{ServerName: contract.IdentityServiceName + ".mesh-system.svc"}
	if ca != nil {
		cfg.RootCAs = ca.pool()
	}
	lb.client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func (lb *loopback) post(t *testing.T, body []byte) (int, []byte) {
	t.Helper()
	resp, err := lb.client.Post(lb.url+contract.IdentityPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (lb *loopback) certify(t *testing.T, token string) (contract.CertifyResponse, []*x509.Certificate) {
	t.Helper()
	status, body := lb.post(t, requestJSON(t, csrPEM(t, mustKey(t)), token))
	if status != http.StatusOK {
		t.Fatalf("certify status %d: %s", status, body)
	}
	var resp contract.CertifyResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp, parseChain(t, resp.CertificateChain)
}

func verifyChain(chain []*x509.Certificate, ca *testCA, at time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: ca.pool(), Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestCertifyIssuesVerifiableSPIFFELeaf(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	lb := startLoopback(t, ca, time.Hour)
	now := lb.clock.Now()

	resp, chain := lb.certify(t, "web-token")

	if len(chain) != 2 || !chain[1].Equal(ca.issuer.Cert) {
		t.Fatalf("chain must be leaf + issuer, got %d certs", len(chain))
	}
	if err := verifyChain(chain, ca, now); err != nil {
		t.Fatalf("chain does not verify against the anchor: %v", err)
	}
	leaf := chain[0]
	want := contract.SPIFFEID(testTrustDomain, "shop", "web")
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		t.Fatalf("URI SANs = %v, want %s", leaf.URIs, want)
	}
	if !leaf.NotAfter.Equal(now.Add(time.Hour).Truncate(time.Second)) || !resp.NotAfter.Equal(leaf.NotAfter) {
		t.Fatalf("NotAfter = %v (response %v), want now+1h", leaf.NotAfter, resp.NotAfter)
	}
	if leaf.IsCA || leaf.NotBefore.After(now) {
		t.Fatalf("leaf IsCA=%v NotBefore=%v", leaf.IsCA, leaf.NotBefore)
	}
}

func TestMetricsCountDecisionsAndNameTheIssuer(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	reg := prometheus.NewRegistry()
	srv, err := NewServer(Config{TrustDomain: testTrustDomain, LeafTTL: time.Hour, Reviewer: testReviewer,
		Issuer: NewStaticIssuer(ca.issuer), Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"web-token", "forged"} {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodPost, contract.IdentityPath, bytes.NewReader(requestJSON(t, csrPEM(t, mustKey(t)), tok)))
		srv.Handler().ServeHTTP(rec, req)
	}
	expected := fmt.Sprintf(`
# HELP meshkeeper_identity_certificates_issued_total Workload certificates issued.
# TYPE meshkeeper_identity_certificates_issued_total counter
meshkeeper_identity_certificates_issued_total 1
# HELP meshkeeper_identity_certificates_refused_total Certify requests refused, by reason.
# TYPE meshkeeper_identity_certificates_refused_total counter
meshkeeper_identity_certificates_refused_total{reason="unauthenticated"} 1
# HELP meshkeeper_identity_issuer_info Fixed at 1; the label is the SHA-256 fingerprint of the issuer signing certificates now.
# TYPE meshkeeper_identity_issuer_info gauge
meshkeeper_identity_issuer_info{fingerprint=%q} 1
`, ca.issuer.Fingerprint)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"meshkeeper_identity_certificates_issued_total", "meshkeeper_identity_certificates_refused_total", "meshkeeper_identity_issuer_info"); err != nil {
		t.Fatal(err)
	}
}

func TestCertifyCapsLifetimeAtIssuerExpiry(t *testing.T) {
	issuerEnd := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	ca := newTestCA(t, "short", issuerEnd)
	lb := startLoopback(t, ca, 24*time.Hour)

	_, chain := lb.certify(t, "web-token")

	if !chain[0].NotAfter.Equal(issuerEnd) {
		t.Fatalf("NotAfter = %v, want issuer NotAfter %v", chain[0].NotAfter, issuerEnd)
	}
}

func TestCertifyRefusals(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	lb := startLoopback(t, ca, time.Hour)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	goodCSR := csrPEM(t, mustKey(t))
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"unknown token", requestJSON(t, goodCSR, "forged"), http.StatusUnauthorized},
		{"token for another audience", requestJSON(t, goodCSR, "wrong-aud"), http.StatusUnauthorized},
		{"not a service account", requestJSON(t, goodCSR, "user-token"), http.StatusForbidden},
		{"token review down", requestJSON(t, goodCSR, "review-down"), http.StatusServiceUnavailable},
		{"RSA key", requestJSON(t, csrPEM(t, rsaKey), "web-token"), http.StatusBadRequest},
		{"garbage", []byte("not json"), http.StatusBadRequest},
		{"oversized body", requestJSON(t, goodCSR, strings.Repeat("x", MaxRequestBytes)), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, body := lb.post(t, tc.body); got != tc.want {
				t.Fatalf("status %d (%s), want %d", got, body, tc.want)
			}
		})
	}
	resp, err := lb.client.Get(lb.url + contract.IdentityPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET status %d, want 405", resp.StatusCode)
	}
}

func TestNoIssuerMeansNotReadyAndNoHandshake(t *testing.T) {
	lb := startLoopback(t, nil, time.Hour)
	if lb.server.Ready() == nil {
		t.Fatal("Ready must fail without an issuer")
	}
	// Without an issuer there is no serving certificate, so TLS itself fails.
	lb.client.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	if _, err := lb.client.Post(lb.url+contract.IdentityPath, "application/json", strings.NewReader("{}")); err == nil {
		t.Fatal("expected a TLS failure without an issuer")
	}
	// The handler itself answers 503 when reached without an issuer.
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodPost, contract.IdentityPath, bytes.NewReader(requestJSON(t, csrPEM(t, mustKey(t)), "web-token")))
	lb.server.Handler().ServeHTTP(rec, req)
	if rec.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.status)
	}
}

func TestIssuerReloadChainsToNewIssuer(t *testing.T) {
	oldCA := newTestCA(t, "old", time.Now().Add(48*time.Hour))
	newCA := newTestCA(t, "new", time.Now().Add(48*time.Hour))
	lb := startLoopback(t, oldCA, time.Hour)
	_, before := lb.certify(t, "web-token")
	if err := verifyChain(before, oldCA, lb.clock.Now()); err != nil {
		t.Fatal(err)
	}

	lb.source.Set(newCA.issuer)
	lb.trust(newCA) // the serving cert must now chain to the new anchor too

	_, after := lb.certify(t, "web-token")
	if err := verifyChain(after, newCA, lb.clock.Now()); err != nil {
		t.Fatalf("new leaf does not chain to the new anchor: %v", err)
	}
	if verifyChain(after, oldCA, lb.clock.Now()) == nil {
		t.Fatal("new leaf still chains to the old anchor")
	}
}

func TestServingCertRenewsAtHalfLife(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	clk := clocktesting.NewFakePassiveClock(time.Now())
	sc := NewServingCert(NewStaticIssuer(ca.issuer), clk, time.Hour, ServingDNSNames("ns"))
	first, err := sc.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	clk.SetTime(clk.Now().Add(29 * time.Minute))
	if again, _ := sc.Certificate(); again != first {
		t.Fatal("renewed before half-life")
	}
	clk.SetTime(clk.Now().Add(2 * time.Minute))
	renewed, _ := sc.Certificate()
	if renewed == first {
		t.Fatal("not renewed after half-life")
	}
	wantNames := []string{"meshkeeper-identity.ns.svc", "meshkeeper-identity.ns.svc.cluster.local",
		"meshkeeper-discovery.ns.svc", "meshkeeper-discovery.ns.svc.cluster.local"}
	for _, name := range wantNames {
		if err := renewed.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("serving cert does not cover %s: %v", name, err)
		}
	}
}

// recorder is a minimal ResponseWriter for direct handler calls.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

// BenchmarkCertify measures one certify request through the handler: JSON and
// CSR parsing, the (fake) token review and an ECDSA P-256 signature.
func BenchmarkCertify(b *testing.B) {
	ca := newTestCA(b, "bench", time.Now().Add(48*time.Hour))
	srv, err := NewServer(Config{TrustDomain: testTrustDomain, LeafTTL: time.Hour, Reviewer: testReviewer,
		Issuer: NewStaticIssuer(ca.issuer), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	body := requestJSON(b, csrPEM(b, mustKey(b)), "web-token")
	handler := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodPost, contract.IdentityPath, bytes.NewReader(body))
		handler.ServeHTTP(rec, req)
		if rec.status != 0 && rec.status != http.StatusOK {
			b.Fatalf("status %d", rec.status)
		}
	}
}
