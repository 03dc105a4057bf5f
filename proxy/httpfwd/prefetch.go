package httpfwd

import (
	"bytes"
	"io"
	"net/http"
	"time"
)

// A request body of known length up to prefetchMax that is already at hand
// (it came in the same packets as the headers, the usual case for small
// bodies) is handed to the transport in memory, which then writes headers
// and body upstream in one write instead of flushing the headers first. A
// body not at hand within prefetchWait is streamed as it comes, as before.
const (
	prefetchMax  = 16 << 10
	prefetchWait = 2 * time.Millisecond
)

type readResult struct {
	n   int
	err error
}

// prefetchBody replaces r.Body as described above; it never waits for more
// than one read of the client's body, nor longer than prefetchWait.
func prefetchBody(r *http.Request) {
	n := r.ContentLength
	if n <= 0 || n > prefetchMax || r.Body == nil || r.Body == http.NoBody || r.Header.Get("Expect") != "" {
		return
	}
	body, buf := r.Body, make([]byte, n)
	done := make(chan readResult, 1)
	go func() {
		m, err := body.Read(buf)
		done <- readResult{m, err}
	}()
	timer := time.NewTimer(prefetchWait)
	select {
	case res := <-done:
		timer.Stop()
		if res.n == len(buf) {
			// The whole body: the transport recognises this as in memory. The
			// server still closes the original body when the handler returns.
			r.Body = io.NopCloser(bytes.NewReader(buf))
			return
		}
		r.Body = &prefetched{res: &res, buf: buf, body: body}
	case <-timer.C:
		r.Body = &prefetched{done: done, buf: buf, body: body}
	}
}

// prefetched replays the first read of body (waiting for it if it is still
// in flight) and then reads on from body.
type prefetched struct {
	done <-chan readResult
	res  *readResult
	buf  []byte
	body io.ReadCloser
}

func (p *prefetched) Read(b []byte) (int, error) {
	if p.res == nil {
		res := <-p.done
		p.res = &res
	}
	if p.res.n > 0 {
		n := copy(b, p.buf[:p.res.n])
		p.buf = p.buf[n:]
		p.res.n -= n
		return n, nil
	}
	if p.res.err != nil {
		return 0, p.res.err
	}
	return p.body.Read(b)
}

func (p *prefetched) Close() error { return p.body.Close() }
