package admin

import (
	"net"
	"sync"
)

// Limits of the admin listener. Its clients are the kubelet (a few probes
// per pod, from the node) and Prometheus (one connection per scraper), with
// small headers; an unfriendly pod must not be able to starve them.
const (
	// MaxConns caps the admin port's open connections.
	MaxConns = 256
	// MaxConnsPerIP caps one client address: a single pod filling the port
	// would fail the kubelet's probes, and the proxy would be restarted.
	MaxConnsPerIP = 16
	// MaxHeaderBytes is plenty for a probe or a scrape (with a bearer token).
	MaxHeaderBytes = 8 << 10
)

// Limit returns ln with at most total connections open at once (further ones
// wait in the kernel's accept queue) and at most perIP from one address
// (further ones are closed at once: waiting would hold a slot others need).
func Limit(ln net.Listener, total, perIP int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, total), perIP: perIP, byIP: map[string]int{}, closed: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
	perIP int
	mu    sync.Mutex
	byIP  map[string]int

	closeOnce sync.Once
	closed    chan struct{}
}

// Close also ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.closed:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		ip := remoteIP(c)
		if !l.take(ip) {
			_ = c.Close()
			<-l.slots
			continue
		}
		return &limitConn{Conn: c, release: func() { l.give(ip); <-l.slots }}, nil
	}
}

func (l *limitListener) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip] >= l.perIP {
		return false
	}
	l.byIP[ip]++
	return true
}

func (l *limitListener) give(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type limitConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
