// Package accept runs a listener's accept loop for the proxy's listeners.
package accept

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/meshkeeper/meshkeeper/proxy/rawio"
)

// Idler is implemented by the connections Loop hands out under a cap: an
// HTTP server marks a connection idle while it waits for the next request
// on it, so the loop may close it to make room at the cap.
type Idler interface{ SetIdle(idle bool) }

// Loop hands every accepted connection to handle in its own goroutine until
// ctx ends (a clean stop) or the listener fails. At most maxConns accepted
// connections are open at once (0: no cap): a connection holds its slot
// until it is closed, by whoever owns it then. At the cap, an idle
// keep-alive connection (see Idler) is closed to make room, as nginx does,
// since keep-alive clients would otherwise hold every slot while doing
// nothing; with none idle the loop stops accepting, so new connections wait
// in the kernel's accept queue (bounded by the listen backlog) at no cost to
// the proxy's memory, and are served as slots free, as HAProxy's maxconn.
func Loop(ctx context.Context, ln net.Listener, maxConns int, log *slog.Logger, handle func(context.Context, net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var s *slots
	if maxConns > 0 {
		s = &slots{ch: make(chan struct{}, maxConns), idle: map[*slotConn]struct{}{}, turnedIdle: make(chan struct{}, 1)}
	}
	full := false
	for {
		if s != nil {
			waited := false
			if !s.acquire(ctx, func() {
				if !full && log != nil {
					// Once per episode of being full, not once per connection.
					log.Warn("connection cap reached; new connections wait", "listener", ln.Addr().String(), "max_connections", maxConns)
				}
				full, waited = true, true
			}) {
				return nil
			}
			full = full && waited
		}
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		conn = rawio.Wrap(conn)
		if s != nil {
			conn = &slotConn{Conn: conn, slots: s}
		}
		go handle(ctx, conn)
	}
}

// slots counts open connections and knows the idle ones.
type slots struct {
	ch   chan struct{}
	mu   sync.Mutex
	idle map[*slotConn]struct{}
	// turnedIdle wakes an acquire waiting at the cap when a connection
	// turns idle.
	turnedIdle chan struct{}
	seq        int64 // orders idle marks
}

// acquire takes a slot: a free one, else one an idle connection gives up,
// else the first to come, a connection closing or turning idle; a wait is
// reported through onWait. False means ctx ended.
func (s *slots) acquire(ctx context.Context, onWait func()) bool {
	select {
	case s.ch <- struct{}{}:
		return true
	default:
	}
	waiting := false
	for {
		if c := s.takeIdle(); c != nil {
			_ = c.Close() // frees its slot
		} else if !waiting {
			onWait()
			waiting = true
		}
		select {
		case s.ch <- struct{}{}:
			return true
		case <-s.turnedIdle:
		case <-ctx.Done():
			return false
		}
	}
}

// takeIdle removes and returns the connection idle the longest that has
// no request waiting in its socket: under load a connection can be marked
// idle while its next request has arrived but not yet been read, and closing
// it would reset that request. A connection found with data is no longer
// counted idle (its server marks it again when it waits next).
func (s *slots) takeIdle() *slotConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		var oldest *slotConn
		for c := range s.idle {
			if oldest == nil || c.idleSince < oldest.idleSince {
				oldest = c
			}
		}
		delete(s.idle, oldest)
		if !oldest.pending() {
			return oldest
		}
	}
	return nil
}

// slotConn gives its slot back when closed. It forwards what the proxy asks
// of accepted sockets: the socket itself (original destination) and
// half-closes.
type slotConn struct {
	net.Conn
	slots     *slots
	once      sync.Once
	closed    bool  // under slots.mu
	idleSince int64 // under slots.mu; a sequence number, larger is later
}

// pending reports whether bytes wait unread in the socket (or it cannot
// tell): a peek that neither blocks nor consumes.
func (c *slotConn) pending() bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	has := true
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		has = n > 0 || (err != nil && !errors.Is(err, unix.EAGAIN))
	})
	return has
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.slots.mu.Lock()
		c.closed = true
		delete(c.slots.idle, c)
		c.slots.mu.Unlock()
		<-c.slots.ch
	})
	return err
}

// SetIdle marks the connection as waiting for a next request (Idler).
func (c *slotConn) SetIdle(idle bool) {
	c.slots.mu.Lock()
	defer c.slots.mu.Unlock()
	if idle && !c.closed {
		c.slots.seq++
		c.idleSince = c.slots.seq
		c.slots.idle[c] = struct{}{}
		select {
		case c.slots.turnedIdle <- struct{}{}:
		default:
		}
	} else {
		delete(c.slots.idle, c)
	}
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
