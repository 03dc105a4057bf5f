package tlsid_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

func TestInTrustDomain(t *testing.T) {
	tests := []struct {
		id, td string
		want   bool
	}{
		{"spiffe://cluster.local/ns/a/sa/b", "cluster.local", true},
		{"spiffe://cluster.local.evil/ns/a/sa/b", "cluster.local", false},
		{"spiffe://cluster.local", "cluster.local", false},
		{"spiffe://other/ns/a/sa/b", "cluster.local", false},
		{"https://cluster.local/ns/a", "cluster.local", false},
	}
	for _, tt := range tests {
		if got := tlsid.InTrustDomain(tt.id, tt.td); got != tt.want {
			t.Errorf("InTrustDomain(%q, %q) = %v", tt.id, tt.td, got)
		}
	}
}

func TestPeerIdentity(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	tests := []struct {
		name    string
		uris    []*url.URL
		want    string
		wantErr bool
	}{
		{"one spiffe", []*url.URL{u("spiffe://td/ns/a/sa/b")}, "spiffe://td/ns/a/sa/b", false},
		{"ignores other schemes", []*url.URL{u("https://x"), u("spiffe://td/ns/a/sa/b")}, "spiffe://td/ns/a/sa/b", false},
		{"none", []*url.URL{u("https://x")}, "", true},
		{"two", []*url.URL{u("spiffe://td/a"), u("spiffe://td/b")}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlsid.PeerIdentity(&x509.Certificate{URIs: tt.uris})
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestVerifyPeer(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	other := testpki.NewCA(t, "other")
	const td = "cluster.local"
	id := contract.SPIFFEID(td, "ns", "web")
	good := ca.Leaf(t, id)
	tests := []struct {
		name    string
		chain   [][]byte
		want    string
		wantErr string
	}{
		{"trusted, any identity", good.Certificate, "", ""},
		{"trusted, expected identity", good.Certificate, id, ""},
		{"identity mismatch", good.Certificate, contract.SPIFFEID(td, "ns", "db"), "expected"},
		{"other anchor", other.Leaf(t, id).Certificate, "", "not trusted"},
		{"other trust domain", ca.Leaf(t, contract.SPIFFEID("evil.local", "ns", "web")).Certificate, "", "outside trust domain"},
		{"no spiffe SAN", ca.Leaf(t, "", "web.ns.svc").Certificate, "", "no spiffe"},
		{"empty", nil, "", "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlsid.VerifyPeer(tt.chain, ca.Pool(), time.Now, td, tt.want)
			if tt.wantErr == "" {
				if err != nil || got != id {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyPeerExpired(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	leaf := ca.Leaf(t, "spiffe://td/ns/a/sa/b")
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := tlsid.VerifyPeer(leaf.Certificate, ca.Pool(), later, "td", ""); err == nil {
		t.Fatal("expired certificate accepted")
	}
}

func TestAnchorsLabel(t *testing.T) {
	a, b := testpki.NewCA(t, "a"), testpki.NewCA(t, "b")
	fa, fb := tlsid.Fingerprint(a.Cert), tlsid.Fingerprint(b.Cert)
	if len(fa) != 64 {
		t.Fatalf("fingerprint %q is not SHA-256 hex", fa)
	}
	want := strings.Join(sortedPair(fa, fb), ",")
	for _, in := range [][]*x509.Certificate{{a.Cert, b.Cert}, {b.Cert, a.Cert}, {b.Cert, a.Cert, b.Cert}} {
		if got := tlsid.AnchorsLabel(in); got != want {
			t.Fatalf("AnchorsLabel = %q, want %q", got, want)
		}
	}
	if tlsid.AnchorsLabel(nil) != "" {
		t.Fatal("empty bundle should give an empty label")
	}
}

func sortedPair(a, b string) []string {
	if a > b {
		return []string{b, a}
	}
	return []string{a, b}
}

// TestMutualHandshake runs both configs against each other on a pipe.
func TestMutualHandshake(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	const td = "cluster.local"
	serverID, clientID := contract.SPIFFEID(td, "ns", "server"), contract.SPIFFEID(td, "ns", "client")
	server := tlsid.Mesh{Certs: testpki.Static{Cert: ca.Leaf(t, serverID)}, Roots: testpki.Static{Roots: ca.Pool()}, TrustDomain: td}
	client := tlsid.Mesh{Certs: testpki.Static{Cert: ca.Leaf(t, clientID)}, Roots: testpki.Static{Roots: ca.Pool()}, TrustDomain: td}

	handshake := func(want string) (clientErr error, peerAtServer string) {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		done := make(chan string, 1)
		go func() {
			sc := tls.Server(s, server.ServerConfig())
			if err := sc.HandshakeContext(context.Background()); err != nil {
				done <- ""
				return
			}
			id, _ := tlsid.HandshakePeer(sc.ConnectionState())
			done <- id
		}()
		cc := tls.Client(c, client.ClientConfig(want))
		err := cc.HandshakeContext(context.Background())
		if err == nil {
			var id string
			id, err = tlsid.HandshakePeer(cc.ConnectionState())
			if err == nil && id != serverID {
				t.Errorf("client saw %q", id)
			}
		}
		c.Close()
		return err, <-done
	}
	if err, peer := handshake(serverID); err != nil || peer != clientID {
		t.Fatalf("expected success, got client err %v, server saw %q", err, peer)
	}
	if err, _ := handshake(contract.SPIFFEID(td, "ns", "impostor")); err == nil {
		t.Fatal("client accepted a server with the wrong identity")
	}
}

// TestALPNSelection: each client config gets its protocol from a current
// server, and a server that predates MuxALPN and OpaqueALPN (only
// contract.ALPN) still accepts every client.
func TestALPNSelection(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	const td = "cluster.local"
	serverID, clientID := contract.SPIFFEID(td, "ns", "server"), contract.SPIFFEID(td, "ns", "client")
	server := tlsid.Mesh{Certs: testpki.Static{Cert: ca.Leaf(t, serverID)}, Roots: testpki.Static{Roots: ca.Pool()}, TrustDomain: td}
	client := tlsid.Mesh{Certs: testpki.Static{Cert: ca.Leaf(t, clientID)}, Roots: testpki.Static{Roots: ca.Pool()}, TrustDomain: td}
	negotiate := func(sconf, cconf *tls.Config) string {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		go func() { _ = tls.Server(s, sconf).HandshakeContext(context.Background()) }()
		cc := tls.Client(c, cconf)
		if err := cc.HandshakeContext(context.Background()); err != nil {
			return "error: " + err.Error()
		}
		if _, err := tlsid.HandshakePeer(cc.ConnectionState()); err != nil {
			return "refused: " + err.Error()
		}
		return cc.ConnectionState().NegotiatedProtocol
	}
	old := server.ServerConfig()
	old.NextProtos = []string{contract.ALPN}
	for _, tc := range []struct {
		name         string
		server, cl   *tls.Config
		wantProtocol string
	}{
		{"plain", server.ServerConfig(), client.ClientConfig(serverID), contract.ALPN},
		{"mux", server.ServerConfig(), client.MuxClientConfig(serverID), tlsid.MuxALPN},
		{"opaque", server.ServerConfig(), client.OpaqueClientConfig(serverID), tlsid.OpaqueALPN},
		{"opaque to an old server", old, client.OpaqueClientConfig(serverID), contract.ALPN},
		{"mux to an old server", old, client.MuxClientConfig(serverID), contract.ALPN},
	} {
		if got := negotiate(tc.server, tc.cl); got != tc.wantProtocol {
			t.Errorf("%s: negotiated %q, want %q", tc.name, got, tc.wantProtocol)
		}
	}
}
