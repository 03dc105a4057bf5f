package httpfwd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// The rig of FuzzFastPathDifferential: the same client bytes go to a plain
// net/http server (the oracle: what it hands its handler is what it
// accepted) and to the proxy, whose upstream records the exact bytes it was
// sent. Every wait is bounded by fuzzWait.

const (
	fuzzMaxInput = 4 << 10
	fuzzWait     = 5 * time.Second
)

// seenRequest is a request as a server's handler sees it.
type seenRequest struct {
	Method, Path, RawQuery, Host string
	ProtoMajor                   int
	Body                         []byte
	// Complete: the body was read to its end, not cut short.
	Complete bool
}

func seen(r *http.Request, body []byte, err error) seenRequest {
	path := r.URL.Path
	if path == "" {
		path = "/" // a request line names at least "/" (absolute form "http://a")
	}
	return seenRequest{Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Host: r.Host,
		ProtoMajor: r.ProtoMajor, Body: body, Complete: err == nil}
}

func loopback(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// exchange sends input on c, half-closes it and reads until the server
// closes: then the server has handled every request it was going to.
//
// Before the half-close it awaits the answers to awaited (the requests
// net/http read whole): net/http's server, which the fast path hands
// connections to, takes a half-close for the client's departure and cancels
// what is in flight, which would hide the pipelined requests after it.
func exchange(tb testing.TB, c net.Conn, input []byte, awaited []seenRequest) {
	tb.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(fuzzWait))
	_, _ = c.Write(input) // a server that refused early may reset the rest
	br := bufio.NewReader(c)
	for _, a := range awaited {
		if !a.Complete || !readFinalResponse(br, a.Method) {
			break
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("server still open %v after the client finished sending %q", fuzzWait, input)
	}
}

// readFinalResponse reads one response, after any 1xx, to a request of
// method; false when there is none.
func readFinalResponse(br *bufio.Reader, method string) bool {
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return false
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if err != nil {
			return false
		}
		if resp.StatusCode >= 200 {
			return true
		}
	}
}

// netHTTPOracle is a net/http server set up as the proxy's own (protocols,
// OPTIONS *, header limit), recording what its handler gets per client.
type netHTTPOracle struct {
	ln   net.Listener
	mu   sync.Mutex
	seen map[string][]seenRequest // by client address
}

func newNetHTTPOracle(tb testing.TB) *netHTTPOracle {
	o := &netHTTPOracle{ln: loopback(tb), seen: map[string][]seenRequest{}}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler: o, Protocols: protocols, DisableGeneralOptionsHandler: true,
		MaxHeaderBytes:    contract.DefaultProxyLimits.MaxHeaderBytes,
		ReadHeaderTimeout: fuzzWait, ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(o.ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return o
}

func (o *netHTTPOracle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, fuzzMaxInput+1))
	o.mu.Lock()
	o.seen[r.RemoteAddr] = append(o.seen[r.RemoteAddr], seen(r, body, err))
	o.mu.Unlock()
	w.Header().Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}

// accepted returns the requests net/http handed its handler for input.
func (o *netHTTPOracle) accepted(tb testing.TB, input []byte) []seenRequest {
	c, err := net.Dial("tcp", o.ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	key := c.LocalAddr().String()
	exchange(tb, c, input, nil)
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.seen[key]
	delete(o.seen, key)
	return got
}

// forwarded is a request as the proxy's upstream received it.
type forwarded struct {
	seenRequest
	// problem names framing another parser could read differently.
	problem string
}

// recorder is a raw upstream: it checks each request's header block byte
// by byte before parsing it, and answers "ok".
type recorder struct {
	ln    net.Listener
	addr  netip.AddrPort
	mu    sync.Mutex
	got   []forwarded
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	done  chan struct{}
}

func startRecorder(tb testing.TB) *recorder {
	ln := loopback(tb)
	r := &recorder{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	go r.accept()
	return r
}

func (r *recorder) accept() {
	defer close(r.done)
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(1)
		go r.serve(c)
	}
}

func (r *recorder) record(f forwarded) {
	r.mu.Lock()
	r.got = append(r.got, f)
	r.mu.Unlock()
}

const recorderReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func (r *recorder) serve(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		_ = c.Close()
	}()
	_ = c.SetDeadline(time.Now().Add(fuzzWait))
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		head, err := peekHead(br)
		if err != nil {
			if len(head) > 0 {
				r.record(forwarded{problem: "header block cut short: " + err.Error()})
			}
			return
		}
		f := forwarded{problem: framingProblem(head)}
		req, err := http.ReadRequest(br)
		if err != nil {
			f.problem = strings.TrimPrefix(f.problem+", net/http cannot parse it: "+err.Error(), ", ")
			r.record(f)
			return
		}
		body, err := io.ReadAll(req.Body)
		f.seenRequest = seen(req, body, err)
		r.record(f)
		if err != nil || f.problem != "" {
			return
		}
		if _, err := io.WriteString(c, recorderReply); err != nil {
			return
		}
	}
}

// stop waits for the proxy to let go of its upstream connections (closing
// its idle ones meanwhile), then returns what arrived.
func (r *recorder) stop(closeIdle func()) []forwarded {
	_ = r.ln.Close()
	<-r.done
	for deadline := time.Now().Add(fuzzWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		closeIdle()
		r.mu.Lock()
		n := len(r.conns)
		r.mu.Unlock()
		if n == 0 {
			break
		}
	}
	r.mu.Lock()
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return r.got
}

// peekHead returns a request's header block, up to and including its empty
// line, without consuming it.
func peekHead(br *bufio.Reader) ([]byte, error) {
	for {
		b, _ := br.Peek(br.Buffered())
		if i := headEnd(b); i >= 0 {
			return b[:i], nil
		}
		if br.Buffered() == br.Size() {
			return b, errors.New("header block larger than the buffer")
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return b, err
		}
	}
}

func headEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

// framingProblem names what makes a forwarded header block ambiguous: bare
// LF line ends, obs-fold, more than one framing header, or any framing but
// one numeric Content-Length or "Transfer-Encoding: chunked".
func framingProblem(head []byte) string {
	var problems []string
	for i, c := range head {
		if c == '\n' && (i == 0 || head[i-1] != '\r') {
			problems = append(problems, "bare LF")
			break
		}
	}
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\n")
	var cl, te []string
	for _, line := range lines[1:] {
		line = strings.TrimSuffix(line, "\r")
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			problems = append(problems, "obs-fold")
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(strings.TrimSpace(name), "Content-Length"):
			cl = append(cl, value)
		case strings.EqualFold(strings.TrimSpace(name), "Transfer-Encoding"):
			te = append(te, value)
		}
	}
	switch {
	case len(cl) > 0 && len(te) > 0:
		problems = append(problems, "both Content-Length and Transfer-Encoding")
	case len(cl) > 1 || len(te) > 1:
		problems = append(problems, "repeated framing header")
	case len(te) == 1 && te[0] != "chunked":
		problems = append(problems, "Transfer-Encoding "+te[0])
	case len(cl) == 1 && strings.Trim(cl[0], "0123456789") != "":
		problems = append(problems, "Content-Length "+cl[0])
	}
	return strings.Join(problems, ", ")
}

// proxyRig runs input through an inbound Server with the fast path, whose
// route leads to a fresh recorder each time.
type proxyRig struct {
	front net.Listener
	m     *metrics.Metrics
}

type noMetricsInfo struct{}

func (noMetricsInfo) AnchorsLabel() string { return "" }
func (noMetricsInfo) IssuerLabel() string  { return "" }

func newProxyRig(tb testing.TB) *proxyRig {
	rig := &proxyRig{front: loopback(tb), m: metrics.New("fuzz", noMetricsInfo{})}
	tb.Cleanup(func() { _ = rig.front.Close() })
	return rig
}

func (rig *proxyRig) forwarded(tb testing.TB, input []byte, accepted []seenRequest) []forwarded {
	rec := startRecorder(tb)
	tr := &upstream.Transports{Dialer: &upstream.Dialer{}}
	s := New(Config{
		Direction: contract.DirectionInbound, Metrics: rig.m, Upstream: tr,
		Route: func(ConnInfo) discovery.Target { return discovery.Target{Addr: rec.addr} },
		Log:   slog.New(slog.DiscardHandler),
	})
	client, err := net.Dial("tcp", rig.front.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err := rig.front.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(server, ConnInfo{})
	}()
	exchange(tb, client, input, accepted)
	select {
	case <-served:
	case <-time.After(fuzzWait):
		tb.Fatalf("fast path still serving %v after the client left", fuzzWait)
	}
	_ = s.Close()
	return rec.stop(tr.CloseIdle)
}

// checkDifferential holds the proxy's upstream to what net/http accepted:
// each request upstream is a distinct one net/http handed its handler, same
// method, path, query, Host and body, in framing nobody can read two ways.
//
// Matching ignores order and allows requests cut short: net/http's server
// (the proxy's, after a hand-off) takes the client's half-close for a
// departure and cancels the requests in flight, so one may reach the
// upstream late, partly, or not at all. A smuggled or re-framed request
// still matches nothing net/http accepted.
func checkDifferential(t *testing.T, input []byte, accepted []seenRequest, fwd []forwarded) {
	t.Helper()
	used := make([]bool, len(accepted))
	for i, f := range fwd {
		if f.problem != "" {
			t.Fatalf("request %d forwarded with ambiguous framing (%s); input %q", i, f.problem, input)
		}
		j := slices.IndexFunc(accepted, func(a seenRequest) bool { return sameRequest(f.seenRequest, a) })
		for j >= 0 && used[j] {
			next := slices.IndexFunc(accepted[j+1:], func(a seenRequest) bool { return sameRequest(f.seenRequest, a) })
			if next < 0 {
				j = -1
				break
			}
			j += 1 + next
		}
		if j < 0 {
			t.Fatalf("request %d upstream %+v is none of those net/http accepted %+v; input %q", i, f.seenRequest, accepted, input)
		}
		used[j] = true
	}
}

// sameRequest: f upstream is a as net/http saw it. An empty Host is the one
// rewrite allowed: net/http's client writes the target's address instead.
func sameRequest(f, a seenRequest) bool {
	if f.Method != a.Method || f.Path != a.Path || f.RawQuery != a.RawQuery || (f.Host != a.Host && a.Host != "") {
		return false
	}
	if !f.Complete {
		return bytes.HasPrefix(a.Body, f.Body)
	}
	return a.Complete && bytes.Equal(f.Body, a.Body)
}
