package sidecar_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// startWebsocketApp is a gorilla/websocket echo server.
func startWebsocketApp(t *testing.T) netip.AddrPort {
	t.Helper()
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestWebsocketCounted: a real websocket session through two proxies is one
// successful request with status 101, counted when the 101 arrives; its
// bytes and its duration are in the TCP metrics.
func TestWebsocketCounted(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(startWebsocketApp(t))
	g := &grpcMesh{client: client, server: server} // for expect

	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, client.outbound)
	}}
	conn, resp, err := d.Dial("ws://"+service+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	const messages, size = 5, 1000
	for i := range messages {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		if err := conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
		_, echo, err := conn.ReadMessage()
		if err != nil || !bytes.Equal(echo, msg) {
			t.Fatalf("echo %d: %v (%d bytes)", i, err, len(echo))
		}
	}
	// Counted while the session is still open: a session may last hours.
	success101 := map[string]string{contract.LabelStatusCode: "101", contract.LabelClassification: contract.ClassSuccess, contract.LabelError: ""}
	g.expect(t, 1, success101)
	time.Sleep(50 * time.Millisecond)
	_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	_ = conn.Close()

	g.expect(t, 1, success101) // and not again at its end
	for _, p := range []struct {
		px  *proxy
		dir string
	}{{client, contract.DirectionOutbound}, {server, contract.DirectionInbound}} {
		dir := map[string]string{contract.LabelDirection: p.dir}
		waitFor(t, func() bool { return p.px.sum(t, contract.MetricTCPConnectionDuration, dir) >= 1 })
		for _, flow := range []string{"read", "write"} {
			if got := p.px.sum(t, contract.MetricTCPBytesTotal, map[string]string{contract.LabelDirection: p.dir, contract.LabelFlow: flow}); got < messages*size {
				t.Errorf("%s %s bytes %v, want at least %d", p.dir, flow, got, messages*size)
			}
		}
		if sum := p.px.histSum(t, contract.MetricTCPConnectionDuration, dir); sum < 0.05 {
			t.Errorf("%s connection duration sum %v s, want at least the session's 0.05 s", p.dir, sum)
		}
	}
}
