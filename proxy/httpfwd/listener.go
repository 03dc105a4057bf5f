package httpfwd

import (
	"errors"
	"net"
	"sync"
)

// connListener hands already-accepted, already-sniffed connections to an
// http.Server, which then owns keep-alive, pipelining and HTTP/2 framing.
type connListener struct {
	conns chan net.Conn
	addr  net.Addr

	once   sync.Once
	closed chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{conns: make(chan net.Conn), addr: addr, closed: make(chan struct{})}
}

var errListenerClosed = errors.New("httpfwd: listener closed")

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, errListenerClosed
	}
}

// push blocks until the server accepted c, or fails once the listener closed.
func (l *connListener) push(c net.Conn) error {
	select {
	case l.conns <- c:
		return nil
	case <-l.closed:
		return errListenerClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
