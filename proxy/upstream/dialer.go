// Package upstream opens the proxy's side of a hop: plain TCP to targets that
// are not meshed, mesh mTLS to those that are, and pooled HTTP transports on
// top of either.
package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// ConnectTimeout bounds a TCP connect plus the mTLS handshake.
const ConnectTimeout = 10 * time.Second

// Dialer connects to targets, originating mTLS to meshed ones.
type Dialer struct {
	Mesh tlsid.Mesh
}

// Dial returns a connection to t. For a meshed target the peer's chain and
// its exact identity are verified before any application byte is sent.
func (d *Dialer) Dial(ctx context.Context, t discovery.Target) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", t.Addr.String())
	if err != nil {
		return nil, err
	}
	if !t.Meshed() {
		return conn, nil
	}
	tc := tls.Client(conn, d.Mesh.ClientConfig(t.Identity))
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mesh handshake with %s (%s): %w", t.Addr, t.Identity, err)
	}
	if _, err := tlsid.HandshakePeer(tc.ConnectionState()); err != nil {
		_ = tc.Close()
		return nil, fmt.Errorf("mesh handshake with %s: %w", t.Addr, err)
	}
	return tc, nil
}
