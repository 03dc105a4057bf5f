package sidecar_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// acceptSignal is a listener that reports every connection it accepts.
type acceptSignal struct {
	net.Listener
	accepted chan struct{}
}

func (l acceptSignal) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		select {
		case l.accepted <- struct{}{}:
		default:
		}
	}
	return c, err
}

// startSignallingApp serves small bodies of known length (as the sample
// app's backend does) and reports each connection it accepts.
func startSignallingApp(t *testing.T) (netip.AddrPort, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 64)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello from the backend\n")
	})}
	go func() { _ = srv.Serve(acceptSignal{ln, accepted}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String()), accepted
}

// TestIdleConnectionBeforeFirstRequest: net/http's Transport dials a new
// connection when a request finds none idle, and when another request's
// connection frees up first, the request takes that one and the new
// connection goes to the idle pool unused. Its first request comes whenever
// the pool hands it out: under load, often after the detection timeout. A
// proxy must still proxy and count every request on it: a connection whose
// client spoke HTTP first is HTTP, however late it spoke. Through both
// proxies (the meshed client) and to the server's proxy directly (an
// unmeshed client).
func TestIdleConnectionBeforeFirstRequest(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	appAddr, accepted := startSignallingApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(appAddr)
	inbound := func(tls, peer string) map[string]string {
		return map[string]string{contract.LabelDirection: contract.DirectionInbound, contract.LabelTLS: tls,
			contract.LabelPeerIdentity: peer, contract.LabelClassification: contract.ClassSuccess}
	}
	const n = 3
	t.Run("meshed client", func(t *testing.T) {
		silentThenRequests(t, client.outbound, accepted, n)
		in := server.sum(t, contract.MetricRequestsTotal, inbound("true", clientID))
		out := client.sum(t, contract.MetricRequestsTotal, map[string]string{contract.LabelDirection: contract.DirectionOutbound,
			contract.LabelTLS: "true", contract.LabelPeerIdentity: serverID, contract.LabelClassification: contract.ClassSuccess})
		if in != n || out != n {
			t.Fatalf("the client got %d answers; counted as mTLS successes: %v by the server's proxy, %v by the client's\nserver:\n%s\nclient:\n%s",
				n, in, out, server.series(t, contract.MetricRequestsTotal), client.series(t, contract.MetricRequestsTotal))
		}
	})
	t.Run("unmeshed client", func(t *testing.T) {
		silentThenRequests(t, server.inbound, accepted, n)
		if in := server.sum(t, contract.MetricRequestsTotal, inbound("false", "")); in != n {
			t.Fatalf("the client got %d answers; the server's proxy counted %v plaintext successes\n%s",
				n, in, server.series(t, contract.MetricRequestsTotal))
		}
	})
}

// silentThenRequests connects to addr, says nothing until the proxy there has
// waited out detection, then sends n keep-alive GETs on that connection.
func silentThenRequests(t *testing.T, addr string, accepted <-chan struct{}, n int) {
	t.Helper()
	for len(accepted) > 0 { // earlier connections' signals
		<-accepted
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Having waited out detection on the silent connection, the proxy
	// connects towards the app (a server-first protocol must be able to
	// speak): the app accepting a connection is the sign it has done so.
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy never connected to the app for the silent connection")
	}
	var handed atomic.Bool
	c := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		if handed.Swap(true) {
			return nil, errors.New("test: only the silent connection may be used")
		}
		return conn, nil
	}}}
	defer c.CloseIdleConnections()
	for range n {
		resp, err := c.Get("http://" + service + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "hello from the backend\n" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	}
}
