package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// reset closes c with an RST (SO_LINGER 0), as the kernel does for an app
// that exits with connections open.
func reset(c net.Conn) {
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close()
}

// The keep-alive race: the app closes a pooled connection at the moment a
// request is sent on it (the idle check saw a quiet connection). An
// idempotent request is sent again on a new connection; a POST never is.
func TestH1PoolKeepAliveRace(t *testing.T) {
	var posts atomic.Int32
	s := startRaw(t, func(req *http.Request, n int, c net.Conn) bool {
		if req.Method == http.MethodPost {
			posts.Add(1)
		}
		if n == 1 { // the second request on a connection meets the close
			reset(c)
			return false
		}
		_, _ = io.WriteString(c, okReply)
		return true
	})
	p := newPool()
	defer p.closeIdle()
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		if _, _, err := get(t, p, context.Background(), s.addr, http.MethodGet); err != nil { // leaves a pooled connection
			t.Fatal(err)
		}
		if resp, _, err := get(t, p, context.Background(), s.addr, method); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s on a connection reset under it: %v", method, err)
		}
	}
	if _, _, err := get(t, p, context.Background(), s.addr, http.MethodGet); err != nil {
		t.Fatal(err)
	}
	before := s.conns.Load()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr.String()+"/", strings.NewReader("once"))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("once")), nil }
	if _, err := p.RoundTrip(req, s.addr); err == nil {
		t.Fatal("POST on a connection reset under it succeeded: it was sent twice")
	}
	if n := posts.Load(); n != 1 || s.conns.Load() != before {
		t.Fatalf("the app saw %d POSTs on %d new connections, want 1 on the pooled one", n, s.conns.Load()-before)
	}
}

// An app that resets a fresh connection before answering: the pool reports
// the failure (the outbound proxy's retry, or the inbound proxy's
// "app-no-response" marker, takes it from there) instead of looping.
func TestH1PoolFreshConnectionResetIsAnError(t *testing.T) {
	s := startRaw(t, func(_ *http.Request, _ int, c net.Conn) bool {
		reset(c)
		return false
	})
	p := newPool()
	defer p.closeIdle()
	if _, _, err := get(t, p, context.Background(), s.addr, http.MethodGet); err == nil {
		t.Fatal("a reset before any response byte was not reported")
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: a fresh connection is not retried by the pool", n)
	}
}
