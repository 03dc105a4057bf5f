package sidecar_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// dumpVia sends one request through a fresh client connection and returns
// what the application saw.
func dumpVia(t *testing.T, c *http.Client, url string, header http.Header) requestDump {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("body"))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return requestDump{}
	}
	defer resp.Body.Close()
	var d requestDump
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Errorf("status %d: %v", resp.StatusCode, err)
	}
	return d
}

// TestBurstIsMultiplexedBetweenProxies: a burst of concurrent HTTP/1.1
// requests, all in the application at the same time, takes at most
// maxH1PerPeer (16) connections of their own between the proxies and shares
// one multiplexed connection beyond that, h2 requests included; the
// application still sees each request in its client's protocol.
func TestBurstIsMultiplexedBetweenProxies(t *testing.T) {
	const burst = 40
	ca := testpki.NewCA(t, "anchor")
	var arrived sync.WaitGroup
	arrived.Add(burst)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	appSrv := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/barrier" {
			arrived.Done()
			select { // hold every request until the whole burst is inside
			case <-all:
			case <-time.After(10 * time.Second):
			}
		}
		_ = json.NewEncoder(w).Encode(requestDump{Proto: r.Proto, Header: r.Header, Body: string(body)})
	})}
	go func() { _ = appSrv.Serve(appLn) }()
	t.Cleanup(func() { _ = appSrv.Close() })

	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(netip.MustParseAddrPort(appLn.Addr().String()))

	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			c := clientVia(client.outbound, false) // a client connection each
			defer c.CloseIdleConnections()
			d := dumpVia(t, c, "http://"+service+"/barrier", nil)
			if d.Proto != "HTTP/1.1" || d.Body != "body" || d.Header[upstream.OrigProtoHeader] != nil {
				t.Errorf("app saw %+v", d)
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	default:
		t.Fatal("the burst was not in the application at once")
	}
	if d := dumpVia(t, clientVia(client.outbound, true), "http://"+service+"/echo", nil); d.Proto != "HTTP/2.0" {
		t.Fatalf("h2 client: app saw %s", d.Proto)
	}
	got := server.metric(t, `meshkeeper_proxy_tcp_connections_total{direction="inbound",dst_namespace="",dst_service="",tls="true"}`)
	if n, err := strconv.Atoi(got); err != nil || n > 17 {
		t.Fatalf("mTLS connections between the proxies: %s, want at most 16+1", got)
	}

	// Only a peer proxy's multiplexed connection may ask for a protocol
	// change: from a plaintext client the header is the application's own.
	spoof := http.Header{upstream.OrigProtoHeader: {"HTTP/1.1"}}
	d := dumpVia(t, clientVia(server.inbound, true), "http://"+service+"/echo", spoof)
	if d.Proto != "HTTP/2.0" || fmt.Sprint(d.Header[upstream.OrigProtoHeader]) != "[HTTP/1.1]" {
		t.Fatalf("plaintext h2 client with the header: app saw %s %v", d.Proto, d.Header)
	}
}

// TestMultiplexFallsBackForPeersWithoutIt: a peer proxy that only knows
// contract.ALPN (an older version) gets even a burst beyond maxH1PerPeer as
// a connection per request in the client's protocol, as before.
func TestMultiplexFallsBackForPeersWithoutIt(t *testing.T) {
	const burst = 20
	ca := testpki.NewCA(t, "anchor")
	peerCert := ca.Leaf(t, serverID)
	conf := tlsid.Mesh{Certs: testpki.Static{Cert: peerCert, Roots: ca.Pool()}, Roots: testpki.Static{Roots: ca.Pool()}, TrustDomain: td}.ServerConfig()
	conf.NextProtos = []string{contract.ALPN}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var arrived sync.WaitGroup
	arrived.Add(burst)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	var mu sync.Mutex
	var seen []string
	peer := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Proto+" "+r.Header.Get(upstream.OrigProtoHeader))
		mu.Unlock()
		arrived.Done()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
		}
		_ = json.NewEncoder(w).Encode(requestDump{Proto: r.Proto, Body: "ok"})
	})}
	go func() { _ = peer.Serve(plainListener{tls.NewListener(ln, conf)}) }()
	t.Cleanup(func() { _ = peer.Close() })

	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, ln.Addr().String(), serverID)
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			c := clientVia(client.outbound, false)
			defer c.CloseIdleConnections()
			if d := dumpVia(t, c, "http://"+service+"/echo", nil); d.Proto != "HTTP/1.1" {
				t.Errorf("legacy peer answered %+v", d)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != burst || strings.Join(seen, ",") != strings.TrimSuffix(strings.Repeat("HTTP/1.1 ,", burst), ",") {
		t.Fatalf("legacy peer saw %q", seen)
	}
}

// plainListener hides *tls.Conn from http.Server, which would otherwise drop
// a connection that negotiated an ALPN protocol it does not know; the old
// proxy served HTTP/1 inside the mesh ALPN.
type plainListener struct{ net.Listener }

type plainConn struct{ net.Conn }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return plainConn{c}, nil
}
