package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// The rig of FuzzH1PoolResponse: a hostile upstream answers the pool's
// first request with the fuzzer's bytes; net/http's own parser, reading the
// same bytes for the same request, is the oracle.

const (
	poolFuzzMaxInput = 4 << 10
	poolFuzzWait     = 2 * time.Second
	secondBody       = "second"
	secondReply      = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n" + secondBody
)

// parsedResponse is what a client made of a response.
type parsedResponse struct {
	status  int
	header  http.Header
	trailer http.Header
	body    []byte
	// closeAfter: net/http's reader says the connection cannot carry
	// another response (Connection: close, HTTP/1.0, read to EOF).
	closeAfter bool
}

// oracleVerdict is net/http's reading of raw as the answer to method.
type oracleVerdict struct {
	resp parsedResponse
	err  error
	// reusable: the response ended exactly where raw ends, in framing
	// nobody reads two ways, on a connection still speaking HTTP/1.1.
	reusable bool
}

// netHTTPReads parses raw as the pool does (up to max1xx informational
// responses before the final one) with net/http's ReadResponse.
func netHTTPReads(raw []byte, req *http.Request) oracleVerdict {
	src := bytes.NewReader(raw)
	br := bufio.NewReader(src)
	offset := func() int { return len(raw) - src.Len() - br.Buffered() }
	var resp *http.Response
	var head []byte
	for n := 0; ; n++ {
		start := offset()
		var err error
		if resp, err = http.ReadResponse(br, req); err != nil {
			return oracleVerdict{err: err}
		}
		head = raw[start:offset()]
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n >= max1xx {
			return oracleVerdict{err: errors.New("too many 1xx responses")}
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return oracleVerdict{err: err}
	}
	v := oracleVerdict{resp: parsedResponse{status: resp.StatusCode, header: resp.Header, trailer: resp.Trailer, body: body, closeAfter: resp.Close}}
	v.reusable = !resp.Close && offset() == len(raw) && resp.StatusCode != http.StatusSwitchingProtocols && !ambiguousFraming(resp, head)
	return v
}

// ambiguousFraming: both Content-Length and Transfer-Encoding, or
// Transfer-Encoding in an HTTP/1.0 response, which net/http ignores (RFC
// 9112 6.1 and 6.3: the framing is faulty, the connection must close after
// the message). head holds at least the response's header block.
func ambiguousFraming(resp *http.Response, head []byte) bool {
	var cl, te bool
	for _, line := range strings.Split(string(head), "\n")[1:] {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		name, _, _ := strings.Cut(line, ":")
		cl = cl || strings.EqualFold(name, "Content-Length")
		te = te || strings.EqualFold(name, "Transfer-Encoding")
	}
	return te && (cl || !resp.ProtoAtLeast(1, 1))
}

// hostile answers the first request of its first connection with raw and,
// when keepOpen, serves more requests there; every other request gets
// secondReply. It records the connection each request arrived on.
type hostile struct {
	ln       net.Listener
	addr     netip.AddrPort
	raw      []byte
	keepOpen bool

	mu     sync.Mutex
	conns  []net.Conn
	served []int // connection index of each request
	wg     sync.WaitGroup
	done   chan struct{}
}

func startHostile(tb testing.TB, raw []byte, keepOpen bool) *hostile {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	h := &hostile{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), raw: raw, keepOpen: keepOpen, done: make(chan struct{})}
	go h.accept()
	return h
}

func (h *hostile) accept() {
	defer close(h.done)
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		idx := len(h.conns)
		h.conns = append(h.conns, c)
		h.mu.Unlock()
		h.wg.Add(1)
		go h.serve(c, idx)
	}
}

func (h *hostile) serve(c net.Conn, idx int) {
	defer h.wg.Done()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(poolFuzzWait))
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		h.mu.Lock()
		first := len(h.served) == 0
		h.served = append(h.served, idx)
		h.mu.Unlock()
		if !first {
			if _, err := io.WriteString(c, secondReply); err != nil {
				return
			}
			continue
		}
		if _, err := c.Write(h.raw); err != nil {
			return
		}
		if !h.keepOpen {
			// The end of raw is the end of the stream; reading on avoids a
			// reset that could discard raw before the pool reads it.
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}
}

// stop closes everything and returns the connection index per request.
func (h *hostile) stop() []int {
	_ = h.ln.Close()
	<-h.done
	h.mu.Lock()
	for _, c := range h.conns {
		_ = c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
	return h.served
}
