package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers each request on a connection with the next reply from
// replies (a function of how many requests that connection carried), and
// counts connections.
type rawServer struct {
	addr  netip.AddrPort
	conns atomic.Int32
}

func startRaw(t *testing.T, reply func(req *http.Request, n int, c net.Conn) (keep bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &rawServer{addr: netip.MustParseAddrPort(ln.Addr().String())}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if !reply(req, n, c) {
						return
					}
				}
			}()
		}
	}()
	return s
}

func newPool() *h1Pool {
	return &h1Pool{now: time.Now, dial: func(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", a.String())
	}}
}

func get(t *testing.T, p *h1Pool, ctx context.Context, addr netip.AddrPort, method string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+addr.String()+"/", nil)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body), err
}

const okReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestH1PoolReusesConnections(t *testing.T) {
	s := startRaw(t, func(_ *http.Request, _ int, c net.Conn) bool {
		_, _ = io.WriteString(c, okReply)
		return true
	})
	p := newPool()
	defer p.closeIdle()
	for range 3 {
		if _, body, err := get(t, p, context.Background(), s.addr, http.MethodGet); err != nil || body != "ok" {
			t.Fatalf("body %q, err %v", body, err)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 sequential requests, want 1", n)
	}
}

// A server that closes a keep-alive connection after each answer: the next
// request finds it closed (idle check) or fails on it and is sent again on a
// new one; either way it succeeds.
func TestH1PoolSurvivesServerClosingIdleConnection(t *testing.T) {
	s := startRaw(t, func(_ *http.Request, _ int, c net.Conn) bool {
		_, _ = io.WriteString(c, okReply)
		return false
	})
	p := newPool()
	defer p.closeIdle()
	for i := range 3 {
		if _, body, err := get(t, p, context.Background(), s.addr, http.MethodGet); err != nil || body != "ok" {
			t.Fatalf("request %d: body %q, err %v", i, body, err)
		}
	}
}

func TestH1PoolClosesConnectionOfUnfinishedBody(t *testing.T) {
	s := startRaw(t, func(req *http.Request, _ int, c net.Conn) bool {
		if req.URL.Path == "/long" {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 1000))
			return true
		}
		_, _ = io.WriteString(c, okReply)
		return true
	})
	p := newPool()
	defer p.closeIdle()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr.String()+"/long", nil)
	resp, err := p.RoundTrip(req, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(make([]byte, 10))
	_ = resp.Body.Close() // must neither block draining nor pool the connection
	if _, body, err := get(t, p, context.Background(), s.addr, http.MethodGet); err != nil || body != "ok" {
		t.Fatalf("body %q, err %v", body, err)
	}
	if n := s.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the unfinished one not reused)", n)
	}
}

func TestH1PoolInformationalResponsesAndTrailers(t *testing.T) {
	s := startRaw(t, func(_ *http.Request, _ int, c net.Conn) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Grpc-Status\r\n\r\n2\r\nok\r\n0\r\nGrpc-Status: 0\r\n\r\n")
		return true
	})
	p := newPool()
	defer p.closeIdle()
	var hints []int
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { hints = append(hints, code); return nil },
	})
	resp, body, err := get(t, p, ctx, s.addr, http.MethodGet)
	if err != nil || body != "ok" || resp.Trailer.Get("Grpc-Status") != "0" || len(hints) != 1 || hints[0] != 103 {
		t.Fatalf("body %q, err %v, trailer %v, 1xx %v", body, err, resp.Trailer, hints)
	}
}

func TestH1PoolGivesUpWhenTheClientDoes(t *testing.T) {
	never := make(chan struct{})
	s := startRaw(t, func(*http.Request, int, net.Conn) bool {
		<-never // no answer while the test runs
		return false
	})
	defer close(never)
	p := newPool()
	defer p.closeIdle()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, _, err := get(t, p, ctx, s.addr, http.MethodPost); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// A response whose framing other parsers may read differently (RFC 9112
// 6.1, 6.3), or after which the connection switched protocols, is read as
// net/http reads it, but its connection never serves another request.
func TestH1PoolClosesConnectionAfterAmbiguousFraming(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\n",
	} {
		s := startRaw(t, func(req *http.Request, _ int, c net.Conn) bool {
			if req.URL.Path == "/first" {
				_, _ = io.WriteString(c, raw)
			} else {
				_, _ = io.WriteString(c, okReply)
			}
			return true
		})
		p := newPool()
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr.String()+"/first", nil)
		resp, err := p.RoundTrip(req, s.addr)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || (resp.StatusCode == http.StatusOK && string(body) != "ok") {
			t.Fatalf("%q: body %q, err %v", raw, body, err)
		}
		if _, body, err := get(t, p, context.Background(), s.addr, http.MethodGet); err != nil || body != "ok" {
			t.Fatalf("%q: second body %q, err %v", raw, body, err)
		}
		if n := s.conns.Load(); n != 2 {
			t.Errorf("%q: %d connections, want 2 (the first not reused)", raw, n)
		}
		p.closeIdle()
	}
}
