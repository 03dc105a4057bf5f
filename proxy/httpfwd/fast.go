package httpfwd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// The HTTP/1.1 fast path serves the common request — HTTP/1.1, no body or a
// small one of known length, no upgrade, no Expect — on the connection's own
// goroutine: it reads the request, forwards it through the upstream
// transport (whose HTTP/1 path also stays on this goroutine) and writes the
// response headers and the first of its body in one write. net/http's server
// would start a goroutine per request to watch the connection and write
// headers and body separately. The first request that is anything else hands
// the connection, with the bytes already read replayed, to net/http for good.

// fastConn records what is read from a connection while a request's headers
// are parsed, so the request can be replayed to net/http, and stops reading
// at maxHeader bytes.
type fastConn struct {
	net.Conn
	rec       []byte
	recording bool
	// maxHeader bounds a request's line and header block, as net/http's
	// server does: MaxHeaderBytes plus 4096 bytes of slack.
	maxHeader int
	// readErr is the last error of the connection itself, as opposed to a
	// malformed request.
	readErr error
}

var errHeaderTooLarge = errors.New("httpfwd: request header too large")

func (c *fastConn) Read(p []byte) (int, error) {
	if c.recording && len(c.rec) >= c.maxHeader {
		c.readErr = errHeaderTooLarge
		return 0, errHeaderTooLarge
	}
	n, err := c.Conn.Read(p)
	if c.recording && n > 0 {
		c.rec = append(c.rec, p[:n]...)
	}
	if err != nil {
		c.readErr = err
	}
	return n, err
}

// replayConn reads pre before the rest of its connection.
type replayConn struct {
	net.Conn
	pre []byte
}

// CloseWrite: see infoConn.CloseWrite.
func (c *replayConn) CloseWrite() error { return closeWrite(c.Conn) }

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// fastConns tracks connections on the fast path, for Close.
type fastConns struct {
	mu     sync.Mutex
	m      map[net.Conn]struct{}
	closed bool
}

func (f *fastConns) add(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if f.m == nil {
		f.m = map[net.Conn]struct{}{}
	}
	f.m[c] = struct{}{}
	return true
}

func (f *fastConns) remove(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, c)
}

func (f *fastConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for c := range f.m {
		_ = c.Close()
	}
	clear(f.m)
}

var bufioReaderPool, bufioWriterPool sync.Pool

func getReader(r io.Reader) *bufio.Reader {
	if br, ok := bufioReaderPool.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, 4<<10)
}

func getWriter(w io.Writer) *bufio.Writer {
	if bw, ok := bufioWriterPool.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, 4<<10)
}

// serveFast runs the fast path on conn until it closes or a request needs
// net/http, which then gets the connection.
func (s *Server) serveFast(conn net.Conn, info ConnInfo) error {
	if !s.fast.add(conn) {
		return errListenerClosed
	}
	fc := &fastConn{Conn: conn, maxHeader: s.cfg.Limits.MaxHeaderBytes + 4096}
	br, bw := getReader(fc), getWriter(conn)
	handoff := false
	defer func() {
		s.fast.remove(conn)
		if !handoff {
			_ = conn.Close()
		}
		br.Reset(nil)
		bw.Reset(nil)
		bufioReaderPool.Put(br)
		bufioWriterPool.Put(bw)
	}()
	// The context, its 1xx relay and, while the target stays the same, the
	// target's context are the connection's, not made anew per request.
	ctx := httptrace.WithClientTrace(context.WithValue(context.Background(), connInfoKey{}, info), relay1xx(bw))
	var tc targetCtx
	lim := s.cfg.Limits
	for first := true; ; first = false {
		// Between requests the connection may idle for IdleTimeout; from its
		// first byte (from the start, on a new connection) a request has
		// HeaderTimeout to arrive, headers and small body. Nothing reads the
		// connection while the request is forwarded, so the deadline needs no
		// reset until the next request.
		if !first && br.Buffered() == 0 {
			if conn.SetReadDeadline(s.cfg.Now().Add(lim.IdleTimeout)) != nil {
				return nil
			}
			info.setIdle(true)
			_, err := br.Peek(1)
			info.setIdle(false)
			if err != nil {
				return nil
			}
		}
		if conn.SetReadDeadline(s.cfg.Now().Add(lim.HeaderTimeout)) != nil {
			return nil
		}
		if _, err := br.Peek(1); err != nil {
			return nil
		}
		fc.rec = append(fc.rec[:0], peekBuffered(br)...)
		fc.recording = true
		fc.readErr = nil
		req, err := readRequest(br)
		fc.recording = false
		if err != nil && fc.readErr != nil && !errors.Is(fc.readErr, io.EOF) {
			// Too large, too slow, or reset: answered here, not handed on
			// with a fresh allowance of time and bytes.
			if errors.Is(fc.readErr, errHeaderTooLarge) {
				writeHeaderTooLarge(bw)
			}
			return nil
		}
		if err != nil || !fastEligible(req) {
			// net/http answers malformed requests and serves the rest.
			handoff = true
			pre := append([]byte(nil), fc.rec...)
			rc := &replayConn{Conn: conn, pre: pre}
			s.fast.remove(conn)
			if err := s.ln.push(&infoConn{Conn: rc, info: info}); err != nil {
				_ = conn.Close()
			}
			return nil
		}
		if !s.serveFastRequest(ctx, bw, req, info, &tc) {
			return nil
		}
	}
}

// relay1xx passes informational responses (but 100 Continue, which the
// fast path never asks for) on to the client as they arrive.
func relay1xx(bw *bufio.Writer) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusContinue {
				return nil
			}
			writeStatusLine(bw, code)
			if err := http.Header(h).Write(bw); err != nil {
				return err
			}
			bw.WriteString("\r\n")
			return bw.Flush()
		},
	}
}

// targetCtx is a connection's last request context with its target, reused
// while the route gives the same target: two allocations a request fewer.
type targetCtx struct {
	target discovery.Target
	ctx    context.Context
}

func (c *targetCtx) with(parent context.Context, t discovery.Target) context.Context {
	if c.ctx == nil || c.target != t {
		c.target, c.ctx = t, upstream.WithTarget(parent, t)
	}
	return c.ctx
}

// writeHeaderTooLarge answers as net/http's server does.
func writeHeaderTooLarge(bw *bufio.Writer) {
	const body = "431 Request Header Fields Too Large"
	h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	writeSimple(bw, http.StatusRequestHeaderFieldsTooLarge, h, body, true)
}

func peekBuffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// fastEligible reports whether the fast path can serve req.
func fastEligible(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Method == http.MethodConnect {
		return false
	}
	if len(req.TransferEncoding) > 0 || req.ContentLength < 0 || req.ContentLength > smallBodyMax {
		return false
	}
	if req.RequestURI == "*" || req.URL.Host != "" || req.URL.Opaque != "" || req.Host == "" || len(req.Header["Host"]) > 1 {
		return false
	}
	if !validHeaders(req.Host, req.Header) {
		return false
	}
	if _, ok := req.Header["Expect"]; ok {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	return !httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade")
}

// validHeaders applies net/http's server's own checks (httpguts): a request
// it answers with 400 is left to it. Names too: http.ReadRequest takes
// "Transfer Encoding: chunked", which would go upstream as it came.
func validHeaders(host string, h http.Header) bool {
	if !httpguts.ValidHostHeader(host) {
		return false
	}
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// hopHeaders are removed from requests and responses, as ReverseProxy does.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if t = strings.TrimSpace(t); t != "" {
				h.Del(t)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// serveFastRequest forwards one request and writes its response; false
// means the connection must close.
func (s *Server) serveFastRequest(ctx context.Context, bw *bufio.Writer, req *http.Request, info ConnInfo, tc *targetCtx) (keep bool) {
	target := s.cfg.Route(info)
	// Counted as soon as the outcome is known, before the response's end
	// leaves: a client that has its answer finds it counted, as with net/http.
	t := s.track(ctx, info, target, req.Header)
	defer t.giveUp()
	clientClose := req.Close
	if s.faulted() {
		drainBody(req)
		t.fail(contract.ErrorFaultInjected)
		t.answered(http.StatusServiceUnavailable)
		t.finish()
		h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}}
		return writeSimple(bw, http.StatusServiceUnavailable, h, faultMessage+"\n", clientClose)
	}
	readSmallBody(req)
	if req.ContentLength > 0 && req.GetBody == nil {
		// The body did not arrive whole: the connection is unusable.
		return false
	}
	out := req.WithContext(tc.with(ctx, target))
	out.RequestURI = ""
	out.Close = false
	if req.ContentLength == 0 {
		out.Body = nil
	}
	te := req.Header["Te"]
	removeHopHeaders(out.Header)
	if s.cfg.Direction == contract.DirectionOutbound {
		stripInternal(out.Header)
	}
	if httpguts.HeaderValuesContainsToken(te, "trailers") {
		out.Header.Set("Te", "trailers")
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "")
	}
	resp, err := s.transport.RoundTrip(out)
	if err != nil {
		t.fail(errorKind(err, ctx))
		t.answered(http.StatusBadGateway)
		t.finish()
		s.cfg.Log.Debug("upstream request failed", "direction", s.cfg.Direction, "host", req.Host, "err", err)
		h := http.Header{}
		if s.cfg.Direction == contract.DirectionInbound {
			h.Set(ProxyErrorHeader, appFailure(err))
		}
		return writeSimple(bw, http.StatusBadGateway, h, "", clientClose)
	}
	defer resp.Body.Close()
	if s.cfg.Direction == contract.DirectionInbound {
		stripInternal(resp.Header)
	}
	t.answered(resp.StatusCode)
	if bodiless(req.Method, resp.StatusCode) {
		t.ended(resp) // nothing more comes; Response.Write may never read the body
		t.finish()
	}
	resp.Body = &endBody{ReadCloser: resp.Body, res: resp, t: t}
	return writeResponse(bw, req, resp, clientClose)
}

// bodiless reports whether a response has no body by definition.
func bodiless(method string, code int) bool {
	return method == http.MethodHead || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
}

func drainBody(req *http.Request) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
}

func writeStatusLine(bw *bufio.Writer, code int) {
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString(text)
	bw.WriteString("\r\n")
}

func writeSimple(bw *bufio.Writer, code int, h http.Header, body string, closeConn bool) bool {
	writeStatusLine(bw, code)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if closeConn {
		h.Set("Connection", "close")
	}
	_ = h.Write(bw)
	bw.WriteString("\r\n")
	bw.WriteString(body)
	return bw.Flush() == nil && !closeConn
}

// writeResponse writes resp to the client: a response of known length as
// headers and body, flushed after each piece of body that arrives (the
// first with the headers); anything else through Response.Write, flushed
// at every write, so streams stream.
func writeResponse(bw *bufio.Writer, req *http.Request, resp *http.Response, clientClose bool) bool {
	removeHopHeaders(resp.Header)
	code := resp.StatusCode
	simple := resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 && req.Method != http.MethodHead &&
		code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
	if !simple {
		resp.Close = clientClose
		resp.ProtoMajor, resp.ProtoMinor = 1, 1
		if resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && req.Method != http.MethodHead {
			resp.Close = true // delimited by the close of the connection
		}
		if err := resp.Write(flushWriter{bw}); err != nil {
			return false
		}
		return !resp.Close && bw.Flush() == nil
	}
	writeStatusLine(bw, code)
	resp.Header["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	if clientClose {
		resp.Header["Connection"] = []string{"close"}
	}
	if err := resp.Header.Write(bw); err != nil {
		return false
	}
	bw.WriteString("\r\n")
	remaining := resp.ContentLength
	for remaining > 0 {
		// The body joins its headers in the buffer, so a small response
		// leaves in one write (one TLS record, one wake-up of the peer).
		if bw.Available() < 512 {
			if bw.Flush() != nil {
				return false
			}
		}
		buf := bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), remaining)]
		n, err := resp.Body.Read(buf)
		remaining -= int64(n)
		bw.Write(buf[:n])
		if err != nil && !(errors.Is(err, io.EOF) && remaining == 0) {
			_ = bw.Flush()
			return false
		}
		if remaining > 0 && n > 0 {
			// More is coming: send what arrived rather than hold it.
			if bw.Flush() != nil {
				return false
			}
		}
	}
	// Reading the end returns the upstream connection to its pool.
	var end [1]byte
	if n, err := resp.Body.Read(end[:]); n > 0 || !errors.Is(err, io.EOF) {
		_ = bw.Flush()
		return false
	}
	return bw.Flush() == nil && !clientClose
}

// flushWriter flushes after every write.
type flushWriter struct{ bw *bufio.Writer }

func (w flushWriter) Write(p []byte) (int, error) {
	n, err := w.bw.Write(p)
	if err == nil {
		err = w.bw.Flush()
	}
	return n, err
}
