// Package relay copies bytes between two connections, untouched, and passes a
// half-close from one side on to the other so request/response protocols
// that signal "done sending" by shutting down their write side keep working.
// A relay with no byte in either direction for its idle timeout is closed.
package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type closeWriter interface{ CloseWrite() error }

// bufSize is one direction's copy buffer: a TLS record's worth. io.Copy
// would allocate 32 KiB per direction for the connection's whole life;
// pooled and halved, an open relay costs a quarter of that.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Options bound a relay. Zero values: no idle limit, the wall clock.
type Options struct {
	// Idle closes the relay once neither direction carried a byte for that
	// long, and a write that cannot complete within it.
	Idle time.Duration
	Now  func() time.Time
}

// Pipe relays a↔b until both directions finish, or the relay is idle, then
// closes both.
func Pipe(a, b net.Conn, o Options) {
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &watch{Options: o}
	w.touch()
	done := make(chan struct{}, 2)
	go w.copyHalf(b, a, done)
	go w.copyHalf(a, b, done)
	<-done
	<-done
	_ = a.Close()
	_ = b.Close()
}

// watch tracks the last time either direction moved a byte. A read deadline
// is set only when a direction starts and when it expires, not per read: an
// expired deadline is pushed back to idle after the last activity of either
// direction, so a one-way stream (a download) never times out its quiet side.
type watch struct {
	Options
	last atomic.Int64 // unix nanoseconds
}

func (w *watch) touch() { w.last.Store(w.Now().UnixNano()) }

// remaining is how long until the relay has been idle for Idle.
func (w *watch) remaining() time.Duration {
	return time.Unix(0, w.last.Load()).Add(w.Idle).Sub(w.Now())
}

func (w *watch) copyHalf(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if w.Idle > 0 && src.SetReadDeadline(w.Now().Add(w.Idle)) != nil {
		teardown(dst, src)
		return
	}
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.touch()
			if !w.write(dst, buf[:n]) {
				teardown(dst, src)
				return
			}
		}
		switch {
		case err == nil:
		case w.Idle > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			left := w.remaining()
			if left <= 0 || src.SetReadDeadline(w.Now().Add(left)) != nil {
				teardown(dst, src) // idle both ways: the other copy returns too
				return
			}
		case errors.Is(err, io.EOF):
			if cw, ok := dst.(closeWriter); ok {
				_ = cw.CloseWrite()
				return
			}
			_ = dst.Close()
			return
		default:
			// A reset or a teardown: tear both down, the other copy returns too.
			teardown(dst, src)
			return
		}
	}
}

func (w *watch) write(dst net.Conn, p []byte) bool {
	if w.Idle > 0 && dst.SetWriteDeadline(w.Now().Add(w.Idle)) != nil {
		return false
	}
	_, err := dst.Write(p)
	if err == nil {
		w.touch()
	}
	return err == nil
}

func teardown(a, b net.Conn) {
	_ = a.Close()
	_ = b.Close()
}
