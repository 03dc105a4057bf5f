// Package accept runs a listener's accept loop for the proxy's listeners.
package accept

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/meshkeeper/meshkeeper/proxy/rawio"
)

// Loop hands every accepted connection to handle in its own goroutine until
// ctx ends (a clean stop) or the listener fails. At most maxConns accepted
// connections are open at once (0: no cap): a connection holds its slot
// until it is closed, by whoever owns it then. At the cap the loop stops
// accepting, so new connections wait in the kernel's accept queue (bounded
// by the listen backlog) at no cost to the proxy's memory, and are served
// as slots free, the way HAProxy's maxconn works.
func Loop(ctx context.Context, ln net.Listener, maxConns int, log *slog.Logger, handle func(context.Context, net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var slots chan struct{}
	if maxConns > 0 {
		slots = make(chan struct{}, maxConns)
	}
	full := false
	for {
		if slots != nil {
			select {
			case slots <- struct{}{}:
				full = false
			default:
				if !full && log != nil {
					// Once per episode of being full, not once per connection.
					log.Warn("connection cap reached; new connections wait", "listener", ln.Addr().String(), "max_connections", maxConns)
				}
				full = true
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return nil
				}
			}
		}
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		conn = rawio.Wrap(conn)
		if slots != nil {
			conn = &slotConn{Conn: conn, release: func() { <-slots }}
		}
		go handle(ctx, conn)
	}
}

// slotConn gives its slot back when closed. It forwards what the proxy asks
// of accepted sockets: the socket itself (original destination) and
// half-closes.
type slotConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *slotConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

var errNoSocket = errors.New("accept: connection exposes no socket")

func (c *slotConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSocket
}
