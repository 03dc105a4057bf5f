package metrics

import (
	"net"
	"sync"
)

// countedConn counts bytes through a connection and marks it closed once.
type countedConn struct {
	net.Conn
	stats *Conn
	once  sync.Once
}

// CountConn wraps conn so its bytes are counted in stats and the open
// gauge drops when it is closed, by whoever ends up owning it.
func CountConn(conn net.Conn, stats *Conn) net.Conn {
	return &countedConn{Conn: conn, stats: stats}
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.stats.Read(n)
	}
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.stats.Wrote(n)
	}
	return n, err
}

func (c *countedConn) Close() error {
	c.once.Do(c.stats.Closed)
	return c.Conn.Close()
}

// CloseWrite half-closes when the underlying connection supports it.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// NetConn returns the counted connection (as tls.Conn's NetConn does), for
// checks on its socket.
func (c *countedConn) NetConn() net.Conn { return c.Conn }
