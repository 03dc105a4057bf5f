package httpfwd

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// fastRig serves one client connection on the fast path with route.
func fastRig(t *testing.T, route func(ConnInfo) discovery.Target) (*bufio.Reader, net.Conn) {
	t.Helper()
	front := loopback(t)
	t.Cleanup(func() { _ = front.Close() })
	tr := &upstream.Transports{Dialer: &upstream.Dialer{}}
	s := New(Config{
		Direction: contract.DirectionInbound, Metrics: metrics.New("t", noMetricsInfo{}), Upstream: tr,
		Route: route, Log: slog.New(slog.DiscardHandler),
	})
	t.Cleanup(func() { _ = s.Close(); tr.CloseIdle() })
	client, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err := front.Accept()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(server, ConnInfo{}) }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	return bufio.NewReader(client), client
}

func addrOf(t *testing.T, srv *httptest.Server) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(srv.Listener.Addr().String())
}

// Requests on one keep-alive connection are routed one by one: the target
// of the previous request is reused only while the route still gives it.
func TestFastPathRoutesEveryRequestOfAConnection(t *testing.T) {
	var backends [2]*httptest.Server
	for i := range backends {
		backends[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "backend %d", i)
		}))
		t.Cleanup(backends[i].Close)
	}
	var n atomic.Int64
	targets := []discovery.Target{{Addr: addrOf(t, backends[0])}, {Addr: addrOf(t, backends[0])}, {Addr: addrOf(t, backends[1])}}
	br, client := fastRig(t, func(ConnInfo) discovery.Target { return targets[n.Add(1)%3] })
	var got []string
	for range 6 {
		if _, err := io.WriteString(client, "GET / HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		got = append(got, string(body))
	}
	want := []string{"backend 0", "backend 1", "backend 0", "backend 0", "backend 1", "backend 0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers %q, want %q", got, want)
	}
}

// An informational response (103 Early Hints) reaches the client before the
// final one, on every request of a keep-alive connection.
func TestFastPathRelaysEarlyHints(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		fmt.Fprint(w, "final "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	target := discovery.Target{Addr: addrOf(t, backend)}
	br, client := fastRig(t, func(ConnInfo) discovery.Target { return target })
	for _, path := range []string{"/a", "/b"} {
		if _, err := io.WriteString(client, "GET "+path+" HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		hints, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hints.StatusCode != http.StatusEarlyHints || hints.Header.Get("Link") != "</style.css>; rel=preload" {
			t.Fatalf("%s: first response %d %v, want 103 with its Link", path, hints.StatusCode, hints.Header)
		}
		final, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(final.Body)
		if final.StatusCode != http.StatusOK || string(body) != "final "+path {
			t.Fatalf("%s: final response %d %q", path, final.StatusCode, body)
		}
	}
}
