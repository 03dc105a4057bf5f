package sidecar_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
	"github.com/meshkeeper/meshkeeper/proxy/config"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/identity"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/sidecar"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// TestNewHandshakesUseSwappedCertificate swaps the server proxy's
// certificate (as a renewal does) and checks the very next connection
// presents it, with no restart: an identity the client does not expect is
// refused, the original one is accepted again.
func TestNewHandshakesUseSwappedCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	serverCerts := newCerts(ca.Leaf(t, serverID))
	server := startProxy(t, proxyOpts{certs: serverCerts, anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(a.tcpAddr)
	echo := func() string {
		c, err := net.Dial("tcp", client.outbound)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		_, _ = c.Write([]byte("ping"))
		_ = c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if got := echo(); got != "ping" {
		t.Fatalf("before swap: %q", got)
	}
	serverCerts.cur.Store(ca.Leaf(t, contract.SPIFFEID(td, "app", "someone-else")))
	if got := echo(); got == "ping" {
		t.Fatal("new connection still verified the old certificate")
	}
	serverCerts.cur.Store(ca.Leaf(t, serverID))
	if got := echo(); got != "ping" {
		t.Fatalf("after swapping back: %q", got)
	}
}

// TestWebsocketUpgradeIsRelayedOpaquely upgrades through both proxies and
// then exchanges bytes that are not HTTP.
func TestWebsocketUpgradeIsRelayedOpaquely(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(a.httpAddr)
	c, err := net.Dial("tcp", client.outbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answer: %v %v", resp, err)
	}
	for _, msg := range []string{"\x81\x05hello", "\x00\xffbinary"} {
		_, _ = io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q %v", msg, got, err)
		}
	}
}

// renewingProxy is a proxy running the real identity client against a fake
// identity service that signs with signer, scheduled on clk.
type renewingProxy struct {
	admin    string
	store    *discovery.Store
	signer   atomic.Pointer[testpki.CA]
	requests atomic.Int32
}

func startRenewingProxy(t *testing.T, clk *clocktest.Fake, first *testpki.CA, trusted ...*testpki.CA) *renewingProxy {
	t.Helper()
	rp := &renewingProxy{store: &discovery.Store{}}
	rp.signer.Store(first)
	svc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req contract.CertifyRequest
		if r.URL.Path != contract.IdentityPath || json.NewDecoder(r.Body).Decode(&req) != nil || req.Token != "sa-token" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		rp.requests.Add(1)
		block, _ := pem.Decode([]byte(req.CSR))
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ca := rp.signer.Load()
		leaf := ca.Sign(t, csr.PublicKey, serverID, nil, clk.Now().Add(-time.Minute), clk.Now().Add(time.Hour))
		chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), ca.PEM()...)
		_ = json.NewEncoder(w).Encode(contract.CertifyResponse{CertificateChain: string(chain), NotAfter: leaf.NotAfter})
	}))
	svc.Config.ErrorLog = log.New(io.Discard, "", 0)
	svc.TLS = &tls.Config{Certificates: []tls.Certificate{*first.Leaf(t, "", "127.0.0.1")}}
	svc.StartTLS()
	t.Cleanup(svc.Close)

	dir := t.TempDir()
	trustPath, tokenPath := filepath.Join(dir, contract.TrustRootsKey), filepath.Join(dir, contract.TokenFile)
	var bundle []byte
	for _, ca := range trusted {
		bundle = append(bundle, ca.PEM()...)
	}
	writeFile(t, trustPath, bundle)
	if err := os.WriteFile(tokenPath, []byte("sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	admin := listen()
	rp.admin = admin.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(ctx, sidecar.Options{
			Config: config.Config{IdentityAddr: svc.Listener.Addr().String(), TrustDomain: td, TrustRootsPath: trustPath,
				TokenPath: tokenPath, PodNamespace: "app", ServiceAccount: "server"},
			Version: "9.9.9-test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clk,
			Inbound: listen(), Outbound: listen(), Admin: admin, OrigDst: &dstResolver{}, Discovery: rp.store,
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, func() bool { code, _ := get(t, "http://"+rp.admin+contract.ReadyPath); return code == http.StatusOK })
	return rp
}

// issuer is the issuer fingerprint the proxy's build-info metric reports.
func (rp *renewingProxy) issuer(t *testing.T) string {
	_, body := get(t, "http://"+rp.admin+contract.MetricsPath)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, contract.MetricBuildInfo+"{") {
			i := strings.Index(line, `issuer="`) + len(`issuer="`)
			return line[i : i+64]
		}
	}
	return ""
}

// TestRenewalWithFakeClock runs the real identity client inside the proxy:
// the first certificate makes it ready, and at 70% of its lifetime on the
// fake clock it renews, here from a new issuer, which build info reports.
func TestRenewalWithFakeClock(t *testing.T) {
	oldCA, newCA := testpki.NewCA(t, "old"), testpki.NewCA(t, "new")
	clk := clocktest.New(time.Now().Truncate(time.Second))
	p := startRenewingProxy(t, clk, oldCA, oldCA, newCA)
	if got := p.issuer(t); got != tlsid.Fingerprint(oldCA.Cert) {
		t.Fatalf("issuer label %q before renewal", got)
	}
	p.signer.Store(newCA)         // the control plane rotated its issuer meanwhile
	clk.Advance(38 * time.Minute) // before the earliest jittered renewal point (65%)
	if p.requests.Load() != 1 {
		t.Fatalf("renewed before 65%% of the lifetime (%d requests)", p.requests.Load())
	}
	clk.Advance(8 * time.Minute) // past the latest jittered renewal point (75%), still before expiry
	waitFor(t, func() bool { return p.issuer(t) == tlsid.Fingerprint(newCA.Cert) })
	if p.requests.Load() != 2 {
		t.Fatalf("%d certify requests, want 2", p.requests.Load())
	}
}

// TestDiscoveryIssuerHastensRenewal: a discovery snapshot advertising the
// issuer the certificate already has changes nothing; one advertising a new
// issuer makes the proxy renew within the jitter window, long before 70%.
func TestDiscoveryIssuerHastensRenewal(t *testing.T) {
	oldCA, newCA := testpki.NewCA(t, "old"), testpki.NewCA(t, "new")
	clk := clocktest.New(time.Now().Truncate(time.Second))
	p := startRenewingProxy(t, clk, oldCA, oldCA, newCA)

	p.store.Set(contract.DiscoverySnapshot{Revision: 1, Issuer: tlsid.Fingerprint(oldCA.Cert)})
	time.Sleep(50 * time.Millisecond)
	clk.Advance(identity.HastenWindow)
	time.Sleep(50 * time.Millisecond)
	if n := p.requests.Load(); n != 1 {
		t.Fatalf("renewed on a matching advertised issuer (%d requests)", n)
	}

	p.signer.Store(newCA)
	p.store.Set(contract.DiscoverySnapshot{Revision: 2, Issuer: tlsid.Fingerprint(newCA.Cert)})
	// Run reacts asynchronously: step the fake clock until the renewal shows,
	// allowing a few seconds beyond the jitter window for the reaction, which
	// is still far from 70% of the hour-long lifetime (42 minutes).
	for advanced := time.Duration(0); p.issuer(t) != tlsid.Fingerprint(newCA.Cert); advanced += 100 * time.Millisecond {
		if advanced > identity.HastenWindow+8*time.Second {
			t.Fatalf("no renewal %v after the issuer changed", advanced)
		}
		clk.Advance(100 * time.Millisecond)
		time.Sleep(20 * time.Millisecond)
	}
	if n := p.requests.Load(); n != 2 {
		t.Fatalf("%d certify requests, want 2", n)
	}
}
