package httpfwd

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A request net/http's server answers with 400 is never served by the fast
// path, which hands it to net/http; one it accepts stays on the fast path.
// Each raw request is checked against a real net/http server.
func TestFastPathLeavesWhatNetHTTPRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	netHTTPStatus := func(raw string) int {
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
