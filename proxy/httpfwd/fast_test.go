package httpfwd

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// A request net/http's server answers with 400 is never served by the fast
// path, which hands it to net/http; one it accepts stays on the fast path.
// Each raw request is checked against a real net/http server.
func TestFastPathLeavesWhatNetHTTPRefuses(t *testing.T) {
	netHTTPStatus := startNetHTTP(t)
	// Header values net/http refuses fail http.ReadRequest already, which
	// hands the connection over; the Host is the fast path's own check.
	for _, host := range []string{"web", "web:8080", "[::1]:80", "we|b", "we{b}", "we\"b", "we^b", "we/b"} {
		raw := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		refused := netHTTPStatus(raw) == http.StatusBadRequest
		if fastEligible(req) == refused {
			t.Errorf("Host %q: fast path eligible %v, net/http refuses it %v", host, fastEligible(req), refused)
		}
	}
}

// http.ReadRequest takes header names with spaces in them, which net/http's
// server refuses (400): the fast path must leave those to it too, not
// forward them (found by FuzzFastPathDifferential).
func TestFastPathLeavesHeaderNamesNetHTTPRefuses(t *testing.T) {
	netHTTPStatus := startNetHTTP(t)
	for _, line := range []string{"X-Ok: x", "Bad Name: x", "Transfer Encoding: chunked", "Content Length: 3", " X-Lead: x"} {
		raw := "GET / HTTP/1.1\r\nHost: web\r\n" + line + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			continue // handed over as malformed
		}
		refused := netHTTPStatus(raw) == http.StatusBadRequest
		if fastEligible(req) == refused {
			t.Errorf("header %q: fast path eligible %v, net/http refuses it %v", line, fastEligible(req), refused)
		}
	}
}

// startNetHTTP starts a plain net/http server and returns a function that
// sends it one raw request and returns the status it answers.
func startNetHTTP(t *testing.T) func(raw string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return func(raw string) int {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
}

// net/http's server does not refuse a request with both Content-Length and
// Transfer-Encoding: it reads the body as chunked (RFC 9112 6.3). Neither
// does the proxy, but upstream such a request arrives chunked only, with
// the body and the request after it as net/http reads them.
func TestConflictingFramingArrivesChunkedOnly(t *testing.T) {
	const input = "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: web\r\n\r\n"
	accepted := newNetHTTPOracle(t).accepted(t, []byte(input))
	if len(accepted) != 2 || string(accepted[0].Body) != "abc" || accepted[1].Path != "/next" {
		t.Fatalf("net/http accepted %+v", accepted)
	}
	fwd := newProxyRig(t).forwarded(t, []byte(input), accepted)
	if len(fwd) != 2 || fwd[0].problem != "" || string(fwd[0].Body) != "abc" || fwd[1].Path != "/next" {
		t.Fatalf("forwarded %+v", fwd)
	}
}

// net/http's server accepts a target that is an absolute URI without
// authority, which has no origin-form: net/http's client would send the
// upstream "GET foo" for "GET http:foo"; and an absolute-form authority
// that is no valid Host, which it would send as an empty Host. Neither path
// forwards them (found by FuzzFastPathDifferential).
func TestOpaqueRequestTargetIsNotForwarded(t *testing.T) {
	oracle, rig := newNetHTTPOracle(t), newProxyRig(t)
	for _, raw := range []string{
		"GET http:foo HTTP/1.1\r\nHost: web\r\n\r\n",                               // fast path
		"GET mailto:x@y HTTP/1.0\r\nHost: web\r\n\r\n",                             // net/http's path
		"GET / HTTP/1.1\r\nHost: web\r\n\r\nGET a:0 HTTP/1.1\r\nHost: web\r\n\r\n", // pipelined
		"GET http://we\"b/ HTTP/1.1\r\nHost: web\r\n\r\n",                          // an authority no Host may be
		"GET a://0\" HTTP/1.0\r\n\r\n",
	} {
		accepted := oracle.accepted(t, []byte(raw))
		fwd := rig.forwarded(t, []byte(raw), accepted)
		for _, f := range fwd {
			if f.problem != "" || f.Path != "/" || f.Host != "web" {
				t.Errorf("%q: forwarded %+v", raw, fwd)
			}
		}
	}
}

// A chunked body whose trailer is malformed fails; net/http's server (with
// full duplex, as the proxy's) would go on to read what follows as the next
// request. The proxy closes the connection instead (found by
// FuzzFastPathDifferential; timing-dependent before the fix, hence rounds).
func TestRequestAfterBadTrailerIsNotForwarded(t *testing.T) {
	oracle, rig := newNetHTTPOracle(t), newProxyRig(t)
	for _, raw := range []string{
		"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0\nGET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n",
		"T / HTTP/1.9\r\nHost:Xz\nTransfer-Encoding: chunked\r\n\r\n0\nGZT /smuggled HTTP/1.2\r\nHost:wB\r\n\r\n",
	} {
		for range 100 {
			accepted := oracle.accepted(t, []byte(raw))
			for _, f := range rig.forwarded(t, []byte(raw), accepted) {
				if f.Path == "/smuggled" {
					t.Fatalf("%q: forwarded %+v; net/http accepted %+v", raw, f, accepted)
				}
			}
		}
	}
}

// A connection net/http closes after its answer because of the request
// body (here a bad trailer) is half-closed first, so the client sees its
// end at once rather than after net/http's 500ms linger.
func TestHandedOverConnectionIsHalfClosed(t *testing.T) {
	rig := newProxyRig(t)
	rec := startRecorder(t)
	tr := &upstream.Transports{Dialer: &upstream.Dialer{}}
	s := New(Config{
		Direction: contract.DirectionInbound, Metrics: rig.m, Upstream: tr,
		Route: func(ConnInfo) discovery.Target { return discovery.Target{Addr: rec.addr} },
		Log:   slog.New(slog.DiscardHandler),
	})
	defer s.Close()
	client, err := net.Dial("tcp", rig.front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := rig.front.Accept()
	if err != nil {
		t.Fatal(err)
	}
	halfClosed := make(chan struct{})
	go func() { _ = s.Serve(&closeWriteSpy{Conn: server, halfClosed: halfClosed}, ConnInfo{}) }()
	const raw = "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0\nX Y HTTP/1.1\r\n\r\n"
	if _, err := io.WriteString(client, raw); err != nil {
		t.Fatal(err)
	}
	select {
	case <-halfClosed:
	case <-time.After(fuzzWait):
		t.Fatal("net/http closed the connection without half-closing it first")
	}
	rec.stop(tr.CloseIdle)
}

type closeWriteSpy struct {
	net.Conn
	halfClosed chan struct{}
}

func (c *closeWriteSpy) CloseWrite() error {
	close(c.halfClosed)
	return c.Conn.(*net.TCPConn).CloseWrite()
}
