package sniff

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/detect"
)

// Late settles a connection whose client said nothing within the detection
// timeout, once server (the destination, dialed meanwhile so a server-first
// protocol can speak) is connected: whoever speaks first decides. A server
// that speaks first, or a client that ends or sends something else, makes
// the pair opaque. A client that speaks first, in HTTP, is HTTP however late
// it spoke: net/http's Transport, for one, dials a connection for a request
// that another connection then serves and leaves the new one idle and
// silent in its pool until a later request takes it. Relaying such a
// connection as opaque TCP would leave its requests uncounted, unbalanced
// and never retried. For HTTP, server is left unread, to be closed.
//
// The returned connections replay what was read. Neither side speaking
// within idle (0: no limit) is an error, as a relay idle that long would be.
func Late(client, server net.Conn, detectTimeout, idle time.Duration) (c, s net.Conn, p detect.Protocol, err error) {
	cr, sr, err := first(client, server, idle)
	if err != nil {
		return nil, nil, detect.Opaque, err
	}
	c, s = &Conn{Conn: client, prefix: cr.b}, &Conn{Conn: server, prefix: sr.b}
	if !cr.first || len(cr.b) == 0 || len(sr.b) > 0 || (sr.err != nil && !errors.Is(sr.err, os.ErrDeadlineExceeded)) {
		return c, s, detect.Opaque, nil
	}
	sniffed, p, err := Protocol(c, detectTimeout)
	if err != nil {
		return nil, nil, detect.Opaque, err
	}
	if p != detect.HTTP1 && p != detect.HTTP2 {
		p = detect.Opaque
	}
	return sniffed, s, p, nil
}

// read is one side's first read.
type read struct {
	b     []byte
	err   error
	first bool // this side's read completed first
}

// first reads once from each side at the same time, until either delivers
// (bytes, end of stream or error); the other read is then stopped.
func first(client, server net.Conn, idle time.Duration) (cr, sr read, err error) {
	var deadline time.Time
	if idle > 0 {
		deadline = time.Now().Add(idle)
	}
	type result struct {
		read
		client bool
	}
	done := make(chan result, 2)
	for _, side := range []struct {
		conn   net.Conn
		client bool
	}{{client, true}, {server, false}} {
		if err := side.conn.SetReadDeadline(deadline); err != nil {
			return read{}, read{}, err
		}
		go func() {
			buf := make([]byte, 4<<10)
			n, err := side.conn.Read(buf)
			done <- result{read{b: buf[:n], err: err}, side.client}
		}()
	}
	a := <-done
	a.first = true
	// A deadline in the past stops the other read at once, even one that has
	// not begun; it may still return bytes that arrived meanwhile.
	other := server
	if !a.client {
		other = client
	}
	_ = other.SetReadDeadline(time.Unix(1, 0))
	b := <-done
	if client.SetReadDeadline(time.Time{}) != nil || server.SetReadDeadline(time.Time{}) != nil {
		return read{}, read{}, errors.New("sniff: cannot clear read deadline")
	}
	if len(a.b) == 0 && errors.Is(a.err, os.ErrDeadlineExceeded) {
		return read{}, read{}, a.err // neither spoke within idle
	}
	if a.client {
		return a.read, b.read, nil
	}
	return b.read, a.read, nil
}
