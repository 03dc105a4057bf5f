package discovery

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/identity"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// testMesh is an anchor, an issuer, and certificates issued as the identity service does.
type testMesh struct {
	anchor *pki.KeyPair
	issuer *identity.Issuer
	now    time.Time
}

func newTestMesh(t *testing.T) *testMesh {
	t.Helper()
	now := time.Now()
	anchor, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: "cluster.local", Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := pki.GenerateIssuer(pki.IssuerRequest{Anchor: anchor, TrustDomain: "cluster.local", Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := identity.ParseIssuer(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &testMesh{anchor: anchor, issuer: issuer, now: now}
}

func (m *testMesh) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(m.anchor.Cert)
	return pool
}

// workloadCert issues a client certificate for uri (empty: none, DNS only).
func (m *testMesh) workloadCert(t *testing.T, uri string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := identity.LeafTemplate{PublicKey: key.Public(), Now: m.now, TTL: time.Hour, DNSNames: []string{"x.example"}}
	if uri != "" {
		tmpl.URI, _ = url.Parse(uri)
	}
	leaf, err := identity.IssueLeaf(m.issuer, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: key, Certificate: [][]byte{leaf.Cert.Raw}}
	for _, c := range m.issuer.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert
}

// serveAuthenticated runs a stream behind auth on a TLS server that asks for
// client certificates, as cmd/controlplane serves it.
func serveAuthenticated(t *testing.T, auth Authenticator, perIP int) *httptest.Server {
	t.Helper()
	b := NewBroadcaster()
	if _, err := b.Publish(contract.DiscoverySnapshot{Pods: map[string]contract.MeshedPod{
		"198.18.10.5": {Identity: "spiffe://cluster.local/ns/shop/sa/web", Namespace: "shop"}}}); err != nil {
		t.Fatal(err)
	}
	h, err := NewStreamHandler(b, StreamConfig{Auth: auth, Logger: quiet, MaxWatchersPerIP: perIP})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Handler())
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{ClientAuth: ServerClientAuth}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// watch opens a stream presenting cert (nil: none) and returns the status and first line.
func watch(t *testing.T, srv *httptest.Server, cert *tls.Certificate) (int, string) {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(srv.URL + contract.DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

func TestDiscoveryServesOnlyMeshIdentities(t *testing.T) {
	mesh, other := newTestMesh(t), newTestMesh(t)
	auth := MeshCertAuthenticator{Roots: mesh.roots, TrustDomain: "cluster.local", Now: time.Now}
	srv := serveAuthenticated(t, auth, DefaultMaxWatchersPerIP)

	good := mesh.workloadCert(t, "spiffe://cluster.local/ns/shop/sa/web")
	cases := []struct {
		name   string
		cert   *tls.Certificate
		status int
	}{
		{"no certificate", nil, http.StatusUnauthorized},
		{"certificate of another mesh", new(other.workloadCert(t, "spiffe://cluster.local/ns/shop/sa/web")), http.StatusUnauthorized},
		{"mesh certificate outside the trust domain", new(mesh.workloadCert(t, "spiffe://evil.example/ns/shop/sa/web")), http.StatusUnauthorized},
		{"mesh certificate with no SPIFFE ID", new(mesh.workloadCert(t, "")), http.StatusUnauthorized},
		{"workload certificate", &good, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := watch(t, srv, tc.cert)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			leaked := strings.Contains(body, "198.18.10.5") || strings.Contains(body, "spiffe://cluster.local/ns/shop")
			if (status == http.StatusOK) != leaked {
				t.Fatalf("status %d but body %q", status, body)
			}
		})
	}
}

func TestDiscoveryCapsWatchersPerAddress(t *testing.T) {
	mesh := newTestMesh(t)
	srv := serveAuthenticated(t, MeshCertAuthenticator{Roots: mesh.roots, TrustDomain: "cluster.local", Now: time.Now}, 2)
	cert := mesh.workloadCert(t, "spiffe://cluster.local/ns/shop/sa/web")
	for i := range 2 {
		if status, _ := watch(t, srv, &cert); status != http.StatusOK {
			t.Fatalf("watcher %d: status %d", i, status)
		}
	}
	if status, _ := watch(t, srv, &cert); status != http.StatusTooManyRequests {
		t.Fatalf("third watcher from one address: status %d, want 429", status)
	}
}

func TestSlotsReleaseOnce(t *testing.T) {
	s := newSlots(2, 1)
	release, err := s.take("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.take("a"); err != errTooManyFromIP {
		t.Fatalf("second from a: %v", err)
	}
	releaseB, err := s.take("b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.take("c"); err != errTooManyWatchers {
		t.Fatalf("over the total: %v", err)
	}
	release()
	release() // a second call must not free a slot twice
	releaseB()
	if s.total != 0 || len(s.byIP) != 0 {
		t.Fatalf("after release: total %d byIP %v", s.total, s.byIP)
	}
}
