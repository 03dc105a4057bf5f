package httpfwd

import (
	"io"
	"net/http"
	"sync"
)

// fixedBody is net/http's request body of declared length (its unexported
// body over an io.LimitedReader), with the same reads, errors and Close.
type fixedBody struct {
	mu      sync.Mutex
	r       io.Reader
	n       int64 // bytes left
	closing bool  // the connection closes after the request: Close needn't drain
	sawEOF  bool
	closed  bool
}

func (b *fixedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *fixedBody) readLocked(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	var n int
	var err error
	if b.n <= 0 {
		err = io.EOF
	} else {
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err = b.r.Read(p)
		b.n -= int64(n)
	}
	if err == io.EOF {
		b.sawEOF = true
		if b.n > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil && n > 0 && b.n == 0 {
		err = io.EOF
		b.sawEOF = true
	}
	return n, err
}

// Close drains the rest of the body, as net/http's does, so the next
// request can be read, unless the connection closes anyway.
func (b *fixedBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && !b.closing {
		_, err = io.Copy(io.Discard, fixedBodyLocked{b})
	}
	b.closed = true
	return err
}

type fixedBodyLocked struct{ b *fixedBody }

func (l fixedBodyLocked) Read(p []byte) (int, error) {
	if l.b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return l.b.readLocked(p)
}
