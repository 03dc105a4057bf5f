// Package sniff reads a connection's first bytes without losing them: the
// returned Conn replays them before reading on, so whoever handles the
// connection next sees the stream exactly as the client sent it.
package sniff

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
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
	for len(buf) < limit && !enough(buf) {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), limit-len(buf)))...)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
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
