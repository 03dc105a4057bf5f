package httpfwd

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// replayMax is the most of a request body kept for sending it again, as
// Linkerd's 64 KiB: a gRPC unary call or a small POST fits, an upload does not.
const replayMax = 64 << 10

// fillMax bounds one read of the client's body on an attempt's behalf.
const fillMax = 32 << 10

var (
	errReplaced     = errors.New("httpfwd: request body handed to another attempt")
	errAttemptEnded = errors.New("httpfwd: request body closed by its attempt")
)

// replayBody lets a streamed request body be sent again, as Linkerd's
// ReplayBody. It tees what attempts read from the client into a buffer; a
// new attempt replays the buffer, then continues with the client's stream.
// The rule: an attempt may start over only while every byte read so far is
// buffered (the first replayMax bytes, and no commit yet). It never waits
// for the body to end, so a bidirectional stream (gRPC, a long upload) flows
// as before; it just stops being replayable once it passed replayMax.
//
// Attempts never read the client's body themselves before the commit: a
// fill goroutine does, so an attempt's Close (transports close the body to
// unblock their writer, then wait for it) or its replacement wakes its
// Read at once, leaving the client's stream readable for the next attempt.
type replayBody struct {
	src       io.ReadCloser
	closeOnce sync.Once

	mu   sync.Mutex
	cond sync.Cond
	gen  int    // the current attempt; older ones read errReplaced
	buf  []byte // the client's bytes [base, read)
	base int64
	read int64
	off  int64 // the current attempt's position in the client's body
	err  error // the client's body's final error (io.EOF at its end)
	// filling: a fill goroutine is reading the client's body.
	filling bool
	// closed: the current attempt's transport closed its body.
	closed bool
	// done: no more attempts; the client's body is read directly.
	done bool
}

func newReplayBody(src io.ReadCloser) *replayBody {
	r := &replayBody{src: src}
	r.cond.L = &r.mu
	return r
}

// rewindable reports whether the body can be sent again from its start.
// The caller holds mu.
func (r *replayBody) rewindable() bool {
	return !r.done && r.base == 0 && r.read <= replayMax
}

// attempt returns the body for the next attempt, or false when what was
// already sent of it is no longer buffered.
func (r *replayBody) attempt() (io.ReadCloser, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rewindable() {
		return nil, false
	}
	r.gen++
	r.off, r.closed = 0, false
	r.cond.Broadcast() // the previous attempt's Read gives up
	return &attemptBody{r: r, gen: r.gen}, true
}

// commit ends the attempts: the buffer is released once the last attempt
// has read it, and a Close of its body reaches the client's body again.
func (r *replayBody) commit() {
	r.mu.Lock()
	r.done = true
	r.trim()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		r.closeSrc()
	}
}

// trim drops the buffer once it can neither be replayed nor is still owed
// to the current attempt. The caller holds mu.
func (r *replayBody) trim() {
	if !r.rewindable() && r.off == r.read {
		r.buf, r.base = nil, r.read
	}
}

func (r *replayBody) closeSrc() {
	r.closeOnce.Do(func() { _ = r.src.Close() })
}

// fill reads once from the client's body into the buffer.
func (r *replayBody) fill(n int) {
	chunk := make([]byte, min(n, fillMax))
	m, err := r.src.Read(chunk)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, chunk[:m]...)
	r.read += int64(m)
	if err != nil {
		r.err = err
	}
	r.filling = false
	r.cond.Broadcast()
}

// attemptBody is one attempt's view of a replayBody.
type attemptBody struct {
	r   *replayBody
	gen int
}

func (a *attemptBody) Read(p []byte) (int, error) {
	r := a.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		switch {
		case a.gen != r.gen:
			return 0, errReplaced
		case r.closed:
			return 0, errAttemptEnded
		case r.off < r.read:
			n := copy(p, r.buf[r.off-r.base:])
			r.off += int64(n)
			r.trim()
			return n, nil
		case r.err != nil:
			return 0, r.err
		case len(p) == 0:
			return 0, nil
		case r.done && !r.filling:
			return a.direct(p)
		case !r.filling:
			r.filling = true
			go r.fill(len(p))
		}
		r.cond.Wait()
	}
}

// direct reads the client's body without a fill goroutine once no attempt
// can follow (the common case after the first response). The caller holds
// mu, which is released meanwhile: a Close now closes the client's body,
// which ends the Read.
func (a *attemptBody) direct(p []byte) (int, error) {
	r := a.r
	r.mu.Unlock()
	n, err := r.src.Read(p)
	r.mu.Lock()
	r.read += int64(n)
	r.off, r.base = r.read, r.read
	if err != nil {
		r.err = err
	}
	return n, err
}

// Close ends this attempt's reading. Before the commit the client's body
// stays open for another attempt (the server closes it when the handler
// returns); after it, Close reaches the client's body as without retries.
func (a *attemptBody) Close() error {
	r := a.r
	r.mu.Lock()
	current := a.gen == r.gen && !r.closed
	if current {
		r.closed = true
		r.cond.Broadcast()
	}
	done := r.done
	r.mu.Unlock()
	if current && done {
		r.closeSrc()
	}
	return nil
}

// replayable prepares req's body for attempts: next returns the body of
// each attempt (the first included), false when it cannot be sent again;
// commit ends the attempts. A body already in memory (GetBody) replays
// from there.
func replayable(req *http.Request) (next func() (io.ReadCloser, bool), commit func()) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		body := req.Body
		return func() (io.ReadCloser, bool) { return body, true }, func() {}
	case req.GetBody != nil:
		first := true
		return func() (io.ReadCloser, bool) {
			if first {
				first = false
				return req.Body, true
			}
			b, err := req.GetBody()
			return b, err == nil
		}, func() {}
	}
	r := newReplayBody(req.Body)
	return r.attempt, r.commit
}
