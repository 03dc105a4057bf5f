package sidecar_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestHTTP1ClientLeavesDownload: an HTTP/1.1 client that closes its
// connection in the middle of a streamed download is recorded as
// client_cancel on its status (a success: the server was answering).
func TestHTTP1ClientLeavesDownload(t *testing.T) {
	stop := make(chan struct{})
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	appSrv := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 1024) + "\n")
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			default:
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = appSrv.Serve(ln) }()
	t.Cleanup(func() { close(stop); _ = appSrv.Close() })

	ca := testpki.NewCA(t, "anchor")
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(netip.MustParseAddrPort(ln.Addr().String()))
	g := &grpcMesh{client: client, server: server}

	c, err := net.Dial("tcp", client.outbound)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /download HTTP/1.1\r\nHost: web\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("response %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	g.expect(t, 1, map[string]string{contract.LabelStatusCode: "200", contract.LabelClassification: contract.ClassSuccess, contract.LabelError: contract.ErrorClientCancel})
}

// TestAppDownIsAConnectFailure: the server's proxy cannot reach its app: it
// counts error="connect" for each attempt the client's proxy made (it retries
// a GET elsewhere: here there is nowhere else), and the client's proxy counts
// the one 502 its client got.
func TestAppDownIsAConnectFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := netip.MustParseAddrPort(ln.Addr().String())
	_ = ln.Close() // nothing listens there any more

	ca := testpki.NewCA(t, "anchor")
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(down)
	resp, err := clientVia(client.outbound, false).Get("http://" + service + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	in := map[string]string{contract.LabelDirection: contract.DirectionInbound, contract.LabelError: contract.ErrorConnect,
		contract.LabelClassification: contract.ClassFailure, contract.LabelStatusCode: "502"}
	if got := server.sum(t, contract.MetricRequestsTotal, in); got != 3 {
		t.Errorf("server proxy: %v connect failures, want 3 attempts\n%s", got, server.series(t, contract.MetricRequestsTotal))
	}
	out := map[string]string{contract.LabelDirection: contract.DirectionOutbound, contract.LabelClassification: contract.ClassFailure, contract.LabelStatusCode: "502"}
	if got := client.sum(t, contract.MetricRequestsTotal, out); got != 1 {
		t.Errorf("client proxy: %v failures\n%s", got, client.series(t, contract.MetricRequestsTotal))
	}
}
