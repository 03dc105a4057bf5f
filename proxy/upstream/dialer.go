// Package upstream opens the proxy's side of a hop: plain TCP to targets that
// are not meshed, mesh mTLS to those that are, and pooled HTTP transports on
// top of either.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/rawio"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// ConnectTimeout bounds a TCP connect plus the mTLS handshake.
const ConnectTimeout = 10 * time.Second

// MeshConnectTimeout bounds the TCP connect alone to a meshed endpoint: a pod
// IP on the cluster network, whose kernel answers a SYN in well under a
// millisecond however busy the pod is. A pod that just went away drops SYNs
// instead of resetting them; failing its connect this early leaves time to
// retry the request on another endpoint before the client gives up. (A lost
// SYN is retransmitted after 1s, so it too fails here; idempotent requests
// are retried.) The handshake that follows keeps ConnectTimeout.
const MeshConnectTimeout = time.Second

// errNoMux means the peer proxy did not select tlsid.MuxALPN: it only carries
// one application stream per connection.
var errNoMux = errors.New("peer proxy does not multiplex HTTP")

// Dialer connects to targets, originating mTLS to meshed ones.
type Dialer struct {
	Mesh tlsid.Mesh
}

// Dial returns a connection to t. For a meshed target the peer's chain and
// its exact identity are verified before any application byte is sent.
func (d *Dialer) Dial(ctx context.Context, t discovery.Target) (net.Conn, error) {
	return d.dial(ctx, t, false)
}

// DialOpaque is Dial for an opaque stream: to a meshed target it offers
// tlsid.OpaqueALPN, so the peer proxy relays without detecting again.
func (d *Dialer) DialOpaque(ctx context.Context, t discovery.Target) (net.Conn, error) {
	if !t.Meshed() {
		return d.dial(ctx, t, false)
	}
	return d.dialWith(ctx, t, d.Mesh.OpaqueClientConfig(t.Identity), false)
}

// DialMux returns a mesh mTLS connection to t on which the peer proxy agreed
// to serve multiplexed HTTP/2 (tlsid.MuxALPN); errNoMux when it did not.
func (d *Dialer) DialMux(ctx context.Context, t discovery.Target) (net.Conn, error) {
	return d.dial(ctx, t, true)
}

func (d *Dialer) dial(ctx context.Context, t discovery.Target, mux bool) (net.Conn, error) {
	if !t.Meshed() {
		ctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
		defer cancel()
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", t.Addr.String())
		if err != nil {
			return nil, err
		}
		return rawio.Wrap(conn), nil
	}
	conf := d.Mesh.ClientConfig(t.Identity)
	if mux {
		conf = d.Mesh.MuxClientConfig(t.Identity)
	}
	return d.dialWith(ctx, t, conf, mux)
}

// dialWith connects to a meshed target and handshakes with conf.
func (d *Dialer) dialWith(ctx context.Context, t discovery.Target, conf *tls.Config, mux bool) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{Timeout: MeshConnectTimeout}).DialContext(ctx, "tcp", t.Addr.String())
	if err != nil {
		return nil, err
	}
	conn = rawio.Wrap(conn)
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mesh handshake with %s (%s): %w", t.Addr, t.Identity, err)
	}
	cs := tc.ConnectionState()
	if _, err := tlsid.HandshakePeer(cs); err != nil {
		_ = tc.Close()
		return nil, fmt.Errorf("mesh handshake with %s: %w", t.Addr, err)
	}
	if mux && cs.NegotiatedProtocol != tlsid.MuxALPN {
		_ = tc.Close()
		return nil, errNoMux
	}
	return tc, nil
}
