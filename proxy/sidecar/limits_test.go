package sidecar_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// limitedServer is a permissive server-side proxy in front of the app with
// the given limits; plaintext clients reach its inbound listener directly.
func limitedServer(t *testing.T, l contract.ProxyLimits) (*proxy, *app) {
	t.Helper()
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	p := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), limits: l})
	p.dst.set(a.httpAddr)
	return p, a
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads (discarding) until the proxy closes c and says how long
// that took; it fails the test if c is still open after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

const getEcho = "GET /echo HTTP/1.1\r\nHost: web\r\n\r\n"

// TestSlowHeadersAreClosed: a client that trickles its headers (slowloris)
// is disconnected once the header timeout passes, on the HTTP/1.1 fast path
// and on net/http's HTTP/2 path.
func TestSlowHeadersAreClosed(t *testing.T) {
	p, _ := limitedServer(t, contract.ProxyLimits{HeaderTimeout: 400 * time.Millisecond, IdleTimeout: 400 * time.Millisecond})
	t.Run("HTTP/1.1 trickled headers", func(t *testing.T) {
		c := dial(t, p.inbound)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			if _, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: web\r\n"); err != nil {
				return
			}
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
					return
				}
			}
		}()
		if took := closedWithin(t, c, 5*time.Second); took < 300*time.Millisecond {
			t.Fatalf("closed after %v, before the header timeout", took)
		}
	})
	t.Run("HTTP/2 preface then silence", func(t *testing.T) {
		c := dial(t, p.inbound)
		if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, 5*time.Second)
	})
}

// TestOversizeHeadersGet431: a header block over the limit is answered 431
// and never reaches the app.
func TestOversizeHeadersGet431(t *testing.T) {
	p, _ := limitedServer(t, contract.ProxyLimits{MaxHeaderBytes: 8 << 10})
	for name, header := range map[string]string{
		"one huge header": "X-Big: " + strings.Repeat("a", 16<<10) + "\r\n",
		"many small ones": strings.Repeat("X-Many: "+strings.Repeat("b", 100)+"\r\n", 160),
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, p.inbound)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			go func() { _, _ = io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: web\r\n"+header+"\r\n") }()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", resp.StatusCode)
			}
		})
	}
	// Just under the limit is served.
	c := dial(t, p.inbound)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: web\r\nX-Big: "+strings.Repeat("a", 7<<10)+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("header under the limit: %v %v", resp, err)
	}
}

// TestConnectionCapQueues: at the cap a listener stops accepting; the next
// connection is served once another one closes.
func TestConnectionCapQueues(t *testing.T) {
	p, _ := limitedServer(t, contract.ProxyLimits{MaxConnections: 2})
	var held []net.Conn
	for range 2 {
		c := dial(t, p.inbound)
		if _, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: web\r\n"); err != nil { // headers never end
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // both are accepted and hold their slots
	third := dial(t, p.inbound)
	if _, err := io.WriteString(third, getEcho); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(third)
	_ = third.SetReadDeadline(time.Now().Add(time.Second))
	if resp, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("a connection over the cap was served: %d", resp.StatusCode)
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection over the cap failed instead of waiting: %v", err)
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("queued connection once a slot freed: %v %v", resp, err)
	}
}

// TestIdleKeepAliveIsClosed: a keep-alive connection with no request in
// flight is closed after the idle timeout, HTTP/1.1 and HTTP/2 alike.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	p, _ := limitedServer(t, contract.ProxyLimits{IdleTimeout: 400 * time.Millisecond})
	t.Run("HTTP/1.1", func(t *testing.T) {
		c := dial(t, p.inbound)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for range 2 { // served, and kept alive between requests
			if _, err := io.WriteString(c, getEcho); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("request: %v %v", resp, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if took := closedWithin(t, c, 5*time.Second); took < 300*time.Millisecond {
			t.Fatalf("closed after %v, before the idle timeout", took)
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		var conns int
		client := clientVia(p.inbound, true)
		client.Transport.(*http.Transport).DialContext = countingDial(p.inbound, &conns)
		for range 2 {
			resp, err := client.Get("http://web/echo")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			time.Sleep(time.Second) // more than the idle timeout
		}
		if conns != 2 {
			t.Fatalf("%d connections for two requests an idle timeout apart, want 2 (the first closed while idle)", conns)
		}
	})
}

func countingDial(addr string, n *int) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		*n++
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// TestConnectionCapReclaimsIdle: at the cap, a keep-alive connection idle
// between requests is closed to make room, so idle clients cannot hold
// every slot while a new one waits.
func TestConnectionCapReclaimsIdle(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1 idle", true: "HTTP/2 idle"}[h2]
		t.Run(name, func(t *testing.T) {
			p, _ := limitedServer(t, contract.ProxyLimits{MaxConnections: 2})
			var idle []*http.Client
			for range 2 {
				c := clientVia(p.inbound, h2)
				resp, err := c.Get("http://web/echo")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				idle = append(idle, c) // its connection stays open, idle
			}
			third := dial(t, p.inbound)
			if _, err := io.WriteString(third, getEcho); err != nil {
				t.Fatal(err)
			}
			_ = third.SetReadDeadline(time.Now().Add(3 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(third), nil)
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("a new connection while idle ones held the cap: %v %v", resp, err)
			}
		})
	}
}
