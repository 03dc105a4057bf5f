// Package sniff reads a connection's first bytes without losing them: the
// returned Conn replays them before reading on, so whoever handles the
// connection next sees the stream exactly as the client sent it.
package sniff

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/rawio"
)

// Conn is a net.Conn whose first reads return the sniffed prefix.
type Conn struct {
	net.Conn
	prefix []byte
}

// Prefix is what was read while sniffing.
func (c *Conn) Prefix() []byte { return c.prefix }

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil // release the sniff buffer for the connection's remaining life
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes when the underlying connection supports it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Peek reads until enough(prefix) is true, limit bytes were read, the client
// stopped sending (EOF) or timeout passed. Running out of time is not an
// error: server-first protocols send nothing, and callers then treat the
// connection as opaque. Only a real read failure is returned as an error.
func Peek(conn net.Conn, timeout time.Duration, limit int, enough func([]byte) bool) (*Conn, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, min(limit, 4<<10))
	extended := false
	for len(buf) < limit && !enough(buf) {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), limit-len(buf)))...)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, os.ErrDeadlineExceeded) && !extended && pending(conn) {
			// The client did send, but this goroutine ran late (a starved
			// CPU): an expired deadline wins over bytes already in the
			// socket. Read them (pending cleared the deadline; they are
			// there, so this does not wait) and give the client one more
			// timeout to finish. Else an HTTP connection would be relayed as
			// opaque TCP, pinned to one endpoint, neither balanced nor retried.
			extended = true
			n, err = conn.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == nil {
				err = conn.SetReadDeadline(time.Now().Add(timeout))
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &Conn{Conn: conn, prefix: buf}, nil
}

// pending reports whether anything (bytes, or the end of the stream) is
// readable on the socket under conn now (through wrappers that expose it
// with NetConn, as tls.Conn does). It clears the read deadline, without
// which the check itself would fail.
func pending(conn net.Conn) bool {
	sock := conn
	for {
		if _, ok := sock.(syscall.Conn); ok {
			break
		}
		w, ok := sock.(interface{ NetConn() net.Conn })
		if !ok {
			return false
		}
		sock = w.NetConn()
	}
	raw, err := sock.(syscall.Conn).SyscallConn()
	if err != nil || conn.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	return !rawio.Quiet(raw)
}
