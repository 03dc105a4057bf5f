// Package rawio gives the proxy's TCP connections reads and writes that skip
// the Go scheduler's system-call bookkeeping.
//
// A proxy's socket calls are non-blocking and short, yet net.Conn makes each
// one through syscall.Syscall, whose entry wakes the runtime's monitor thread
// (sysmon) whenever it sleeps — and between two requests it always does. On a
// request path that is two such wake-ups per hop per request, each a futex
// call on the critical path and a context switch of a thread that then polls
// for a few tens of microseconds (golang/go#18236). Here the socket calls are
// raw system calls made inside syscall.RawConn's Read and Write callbacks:
// the netpoller still parks the goroutine when the socket is not ready, and
// deadlines and Close behave as on the *net.TCPConn. A raw call is safe
// because a non-blocking socket call never sleeps: its kernel work is
// bounded by the buffers, so the runtime need not hand its P to another
// thread meanwhile. sysmon still wakes for timers and every other system
// call.
package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection whose Read and Write are raw non-blocking system
// calls. Every other method, including SyscallConn, CloseWrite, the
// deadlines and the io.Copy fast paths (ReadFrom, WriteTo), is the
// *net.TCPConn's.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn
	// A read and a write may run at once (full duplex), so each direction has
	// its own state; its lock serialises calls in that direction, as
	// net.Conn's own methods do. The callbacks are bound once, so a call
	// allocates nothing.
	rd, wr rawOp
}

// rawOp is one direction's call in progress.
type rawOp struct {
	mu    sync.Mutex
	fn    func(fd uintptr) bool
	buf   []byte
	n     int
	errno syscall.Errno
}

// Wrap returns c with raw reads and writes when it is a *net.TCPConn, else c.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	rc := &Conn{TCPConn: tc, raw: raw}
	rc.rd.fn, rc.wr.fn = rc.rd.readOnce, rc.wr.writeAll
	return rc
}

// readOnce reads once into buf; false (not ready) makes RawConn.Read wait
// for readability and call it again.
func (c *rawOp) readOnce(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.n, c.errno = int(r), e
		return true
	}
}

// writeAll writes buf from offset n; false (the socket buffer is full)
// makes RawConn.Write wait for writability and call it again.
func (c *rawOp) writeAll(fd uintptr) bool {
	for c.n < len(c.buf) {
		// MSG_NOSIGNAL: a peer's reset is an EPIPE error here, never a SIGPIPE.
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&c.buf[c.n])), uintptr(len(c.buf)-c.n),
			syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			c.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.errno = e
			return true
		}
	}
	return true
}

// call runs op over p through RawConn's Read or Write (wait), which parks
// the goroutine in the netpoller while op's callback reports "not ready".
func (c *Conn) call(op *rawOp, p []byte, wait func(func(fd uintptr) bool) error) (int, syscall.Errno, error) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.buf, op.n, op.errno = p, 0, 0
	err := wait(op.fn)
	op.buf = nil
	return op.n, op.errno, err
}

// Read reads as (*net.TCPConn).Read: io.EOF at the peer's end of stream, a
// *net.OpError otherwise.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := c.call(&c.rd, p, c.raw.Read)
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p unless an error stops it, as (*net.TCPConn).Write.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := c.call(&c.wr, p, c.raw.Write)
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

// opError reports err as net.Conn's do: deadlines as os.ErrDeadlineExceeded
// (a timeout), a closed connection as net.ErrClosed, errnos as syscall errors.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok { // RawConn's own, around the poller's error
		err = oe.Err
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Quiet reports whether nothing at all — no byte, no end of stream, no error
// — is readable on the socket now: an idle keep-alive connection still fit
// to carry a request. It peeks without waiting or consuming.
func Quiet(raw syscall.RawConn) bool {
	quiet := false
	err := raw.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			if e != syscall.EINTR {
				quiet = e == syscall.EAGAIN
				return true
			}
		}
	})
	return err == nil && quiet
}
