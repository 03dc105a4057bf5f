package sidecar_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// Headers the proxies use among themselves, as an app would forge them.
const (
	errorHeader = "Meshkeeper-Proxy-Error" // httpfwd.ProxyErrorHeader
	protoHeader = "Meshkeeper-Orig-Proto"  // upstream.OrigProtoHeader
)

// TestAppCannotForgeProxyError: an app answering 502 with the proxies'
// "app unavailable" marker must not make the client's proxy send the request
// again (a POST would be processed twice), over HTTP/1.1 and HTTP/2.
func TestAppCannotForgeProxyError(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	var hits atomic.Int32
	app := startHandlerApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set(errorHeader, "app-unavailable")
		w.Header().Set(protoHeader, "HTTP/1.1")
		w.WriteHeader(http.StatusBadGateway)
	}))
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(app)
	for _, h2 := range []bool{false, true} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			before := hits.Load()
			req, _ := http.NewRequest(method, "http://"+service+"/", strings.NewReader(""))
			resp, err := clientVia(client.outbound, h2).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n := hits.Load() - before; n != 1 || resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("h2=%v %s: the app answered %d times, status %d; want its one 502", h2, method, n, resp.StatusCode)
			}
			if v := resp.Header.Values(errorHeader); len(v) > 0 || len(resp.Header.Values(protoHeader)) > 0 {
				t.Fatalf("h2=%v %s: internal headers from the app reached the client: %v", h2, method, resp.Header)
			}
		}
	}
}

// TestClientCannotForgeInternalHeaders: a client's own internal headers never
// reach the server side: Orig-Proto would make the server's proxy downgrade
// an HTTP/2 request to HTTP/1.1.
func TestClientCannotForgeInternalHeaders(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(a.httpAddr)
	for _, h2 := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+service+"/echo", nil)
		req.Header.Set(protoHeader, "HTTP/1.1")
		req.Header.Set(errorHeader, "app-unavailable")
		resp, err := clientVia(client.outbound, h2).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var d requestDump
		err = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := "HTTP/1.1"
		if h2 {
			want = "HTTP/2.0"
		}
		if d.Proto != want || d.Header[protoHeader] != nil || d.Header[errorHeader] != nil {
			t.Fatalf("h2=%v: the app saw %s with %v, want %s without internal headers", h2, d.Proto, d.Header, want)
		}
	}
}

// startHandlerApp serves h over HTTP/1.1 and prior-knowledge HTTP/2.
func startHandlerApp(t *testing.T, h http.Handler) netip.AddrPort {
	t.Helper()
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: protocols}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}
