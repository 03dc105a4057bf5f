package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"sync"
	"syscall"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/rawio"
)

// maxResponseHeader bounds a response's header block, as net/http's default.
const maxResponseHeader = 1 << 20

// max1xx bounds informational responses before the final one.
const max1xx = 5

// h1Pool sends HTTP/1.1 requests whose body is absent or already in memory
// on the caller's goroutine, over pooled keep-alive connections: the request
// leaves in one write and the response is read where it is awaited.
// net/http's Transport passes every request to a writer goroutine and every
// response from a reader goroutine, and those switches cost more than the
// proxying itself on small requests. Streamed bodies stay with the Transport:
// they must be written while the response is already read (full duplex).
type h1Pool struct {
	dial func(context.Context, netip.AddrPort) (net.Conn, error)
	now  func() time.Time

	mu    sync.Mutex
	idle  map[netip.AddrPort][]*h1Conn
	sweep *time.Timer
}

// h1Conn is one upstream connection and its buffers.
type h1Conn struct {
	net.Conn
	raw    syscall.RawConn // the TCP socket (under TLS, if any), for the idle check
	br     *bufio.Reader
	bw     *bufio.Writer
	limit  int64 // bytes the response header may still take; <0 unlimited
	idleAt time.Time
}

func (c *h1Conn) Read(p []byte) (int, error) {
	if c.limit >= 0 {
		if c.limit == 0 {
			return 0, errors.New("upstream: response header too large")
		}
		p = p[:min(int64(len(p)), c.limit)]
	}
	n, err := c.Conn.Read(p)
	if c.limit >= 0 {
		c.limit -= int64(n)
	}
	return n, err
}

func newH1Conn(conn net.Conn) *h1Conn {
	c := &h1Conn{Conn: conn, limit: -1}
	tcp := conn
	if tc, ok := conn.(*tls.Conn); ok {
		tcp = tc.NetConn()
	}
	if sc, ok := tcp.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.br, c.bw = bufio.NewReader(c), bufio.NewWriter(conn)
	return c
}

// alive reports whether an idle connection can carry a request: nothing at
// all may be readable on it (no close, reset, TLS alert or stray byte).
func (c *h1Conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	return rawio.Quiet(c.raw)
}

// inMemoryBody reports whether req can be sent by an h1Pool: no body, or
// one that can be replayed from memory (GetBody).
func inMemoryBody(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func (p *h1Pool) RoundTrip(req *http.Request, addr netip.AddrPort) (*http.Response, error) {
	for {
		c, reused := p.get(addr), true
		if c == nil {
			conn, err := p.dial(req.Context(), addr)
			if err != nil {
				return nil, err
			}
			c, reused = newH1Conn(conn), false
		}
		resp, sent, err := p.exchange(c, req, addr)
		if err == nil {
			return resp, nil
		}
		_ = c.Close()
		// A pooled connection the server closed as it was taken: the
		// request never got an answer; send it once more on a new one if it
		// is safe to (net/http does the same).
		if !reused || sent || !Replayable(req) || req.Context().Err() != nil {
			return nil, err
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// Replayable reports whether req's method is idempotent, so sending it again
// after a failure the application may not have seen is safe.
func Replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// exchange writes req and reads its response on c. sent reports that some
// of the response arrived, so the request was certainly processed.
func (p *h1Pool) exchange(c *h1Conn, req *http.Request, addr netip.AddrPort) (_ *http.Response, sent bool, err error) {
	ctx := req.Context()
	stop := neverStopped
	if ctx.Done() != nil {
		// Only a context that can end needs watching (the HTTP/1.1 fast
		// path's cannot): AfterFunc costs two allocations.
		stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	}
	defer func() {
		if err != nil {
			stop()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
	}()
	if err := writeRequest(c.bw, req); err != nil {
		return nil, false, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, false, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	for n := 0; ; n++ {
		c.limit = maxResponseHeader
		f := peekFraming(c.br)
		resp, err := readResponse(c.br, req)
		c.limit = -1
		if err != nil {
			return nil, n > 0, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			// After a protocol switch the connection no longer speaks HTTP.
			reuse := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols && !f.ambiguous(resp)
			b := &h1Body{rc: resp.Body, c: c, p: p, addr: addr, stop: stop, reuse: reuse}
			if resp.Body == http.NoBody {
				b.release(true)
			} else {
				resp.Body = b
			}
			return resp, true, nil
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, true, err
			}
		} else if n >= max1xx {
			return nil, true, errors.New("upstream: too many 1xx informational responses")
		}
	}
}

// neverStopped is the stop of a context that cannot end: nothing to stop,
// and the function never ran.
func neverStopped() bool { return true }

// h1Body returns its connection to the pool once read to the end, and closes
// it if the body is closed early.
type h1Body struct {
	rc    io.ReadCloser
	c     *h1Conn
	p     *h1Pool
	addr  netip.AddrPort
	stop  func() bool
	reuse bool
	done  bool
}

func (b *h1Body) Read(buf []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(buf)
	if err != nil {
		b.release(err == io.EOF)
	}
	return n, err
}

// Close never drains: an unread rest may be endless; the connection goes.
func (b *h1Body) Close() error {
	b.release(false)
	return nil
}

func (b *h1Body) release(complete bool) {
	if b.done {
		return
	}
	b.done = true
	// stop is false when the request's context ended: the deadline it set
	// may have broken the connection.
	if b.stop() && complete && b.reuse {
		b.p.put(b.addr, b.c)
		return
	}
	_ = b.c.Close()
}

func (p *h1Pool) get(addr netip.AddrPort) *h1Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		list := p.idle[addr]
		if len(list) == 0 {
			return nil
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		p.idle[addr] = list[:len(list)-1]
		if p.now().Sub(c.idleAt) < idleConnTimeout && c.alive() {
			return c
		}
		_ = c.Close()
	}
}

func (p *h1Pool) put(addr netip.AddrPort, c *h1Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[addr]) >= maxIdlePerHost {
		_ = c.Close()
		return
	}
	if p.idle == nil {
		p.idle = map[netip.AddrPort][]*h1Conn{}
	}
	c.idleAt = p.now()
	p.idle[addr] = append(p.idle[addr], c)
	if p.sweep == nil {
		p.sweep = time.AfterFunc(idleConnTimeout, p.sweepIdle)
	}
}

// sweepIdle closes connections idle too long, so endpoints that went away
// leave no descriptors behind; it runs while any connection is idle.
func (p *h1Pool) sweepIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, list := range p.idle {
		kept := list[:0]
		for _, c := range list {
			if p.now().Sub(c.idleAt) < idleConnTimeout {
				kept = append(kept, c)
			} else {
				_ = c.Close()
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = kept
		}
	}
	p.sweep = nil
	if len(p.idle) > 0 {
		p.sweep = time.AfterFunc(idleConnTimeout, p.sweepIdle)
	}
}

func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, list := range p.idle {
		for _, c := range list {
			_ = c.Close()
		}
		delete(p.idle, addr)
	}
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
}
