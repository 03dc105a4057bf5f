// Package h1body is net/http's HTTP/1 message body of declared length,
// rebuilt for the proxy's own request and response readers (httpfwd's
// readRequest, upstream's readResponse), which must behave exactly as
// net/http's unexported body does: their differential tests compare them.
package h1body

import (
	"io"
	"net/http"
	"sync"
)

// Fixed is a body of declared length read from r: a short body ends in
// io.ErrUnexpectedEOF, the last bytes come with io.EOF, Close reads the rest
// (so the next message can be read) unless the connection closes next, and a
// read after Close fails with http.ErrBodyReadAfterClose.
type Fixed struct {
	mu      sync.Mutex
	lr      io.LimitedReader
	closing bool
	sawEOF  bool
	closed  bool
}

// New returns the body of n bytes at the start of r; closing says the
// connection closes after this message, so Close need not drain it.
func New(r io.Reader, n int64, closing bool) *Fixed {
	return &Fixed{lr: io.LimitedReader{R: r, N: n}, closing: closing}
}

func (b *Fixed) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *Fixed) readLocked(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err := b.lr.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.lr.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil && n > 0 && b.lr.N == 0 {
		err = io.EOF
		b.sawEOF = true
	}
	return n, err
}

func (b *Fixed) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && !b.closing {
		_, err = io.Copy(io.Discard, locked{b})
	}
	b.closed = true
	return err
}

// locked reads b while its lock is held, as Close drains it.
type locked struct{ b *Fixed }

func (l locked) Read(p []byte) (int, error) { return l.b.readLocked(p) }
