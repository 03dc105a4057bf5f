// Package inbound is the proxy's listener for connections coming into the
// pod: it terminates mesh mTLS (recognised by its ALPN), enforces the mTLS
// mode for everything else, and forwards to the application's port.
package inbound

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/accept"
	"github.com/meshkeeper/meshkeeper/proxy/detect"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/httpfwd"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
	"github.com/meshkeeper/meshkeeper/proxy/origdst"
	"github.com/meshkeeper/meshkeeper/proxy/relay"
	"github.com/meshkeeper/meshkeeper/proxy/sniff"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// HandshakeTimeout bounds the mesh TLS handshake of a client.
const HandshakeTimeout = 10 * time.Second

// Proxy handles redirected inbound connections.
type Proxy struct {
	OrigDst origdst.Resolver
	// Self is what the proxy never forwards to: its own ports, other hosts.
	Self origdst.Self
	Mesh tlsid.Mesh
	// Strict refuses every connection that is not mesh mTLS.
	Strict        bool
	Dialer        *upstream.Dialer
	HTTP          *httpfwd.Server
	Metrics       *metrics.Metrics
	DetectTimeout time.Duration
	// Limits caps the listener's connections and the relay's idleness
	// (HTTP has its own, in HTTP).
	Limits contract.ProxyLimits
	Now    func() time.Time
	// OpaquePorts are the pod's ports relayed without protocol detection.
	OpaquePorts contract.PortRanges
	Log         *slog.Logger
}

// HTTPRoute sends every inbound request to the application on the port the
// client addressed.
func HTTPRoute(ci httpfwd.ConnInfo) discovery.Target { return discovery.Target{Addr: ci.Dst} }

// Serve accepts until ctx ends or ln fails.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	return accept.Loop(ctx, ln, p.Limits.MaxConnections, p.Log, p.handle)
}

func (p *Proxy) handle(ctx context.Context, conn net.Conn) {
	dst, err := p.OrigDst.OriginalDst(conn)
	if err != nil {
		p.Log.Debug("inbound connection without original destination", "remote", conn.RemoteAddr(), "err", err)
		_ = conn.Close()
		return
	}
	// Before any byte is read or any handshake made: refusing costs nothing,
	// whatever the client speaks and whatever the mTLS mode.
	if reason := p.Self.Inbound(dst, origdst.LocalAddr(conn)); reason != "" {
		p.Metrics.Refused(contract.DirectionInbound, reason)
		p.Log.Debug("refused inbound connection", "remote", conn.RemoteAddr(), "dst", dst, "reason", reason)
		_ = conn.Close()
		return
	}
	sniffed, proto, err := sniff.Protocol(conn, p.DetectTimeout)
	if err != nil {
		_ = conn.Close()
		return
	}
	meshTLS := proto == detect.TLS && offersMeshALPN(sniffed.Prefix())
	if !meshTLS && p.Strict {
		p.Log.Debug("refused non-mesh connection in strict mode", "remote", conn.RemoteAddr(), "dst", dst, "protocol", proto)
		_ = conn.Close()
		return
	}
	// Counting wraps the sniffed stream, so the replayed prefix is counted too.
	var stream net.Conn = metrics.CountConn(sniffed, p.Metrics.ConnOpened(contract.DirectionInbound, meshTLS, metrics.Dst{}))
	idler, _ := conn.(accept.Idler) // the listener's slot, reclaimable while idle
	info := httpfwd.ConnInfo{Dst: dst, Idle: idler}
	alpn := "" // the mesh protocol the client proxy negotiated
	// The client said nothing within the detection timeout.
	silent := proto == detect.Opaque && len(sniffed.Prefix()) == 0
	if meshTLS {
		tc, peer, err := p.terminate(ctx, stream)
		if err != nil {
			p.Log.Info("mesh handshake refused", "remote", conn.RemoteAddr(), "err", err)
			_ = stream.Close()
			return
		}
		info.Peer, info.TLS = peer, true
		alpn = tc.ConnectionState().NegotiatedProtocol
		info.Mux = alpn == tlsid.MuxALPN
		stream, proto = tc, detect.Opaque
		// What the client proxy carries inside the tunnel is the app's own
		// stream; an opaque one (the client proxy says so, or the port is)
		// goes to the app at once: its server may speak first.
		if !p.opaque(dst, alpn) {
			if sniffed, proto, err = sniff.Protocol(tc, p.DetectTimeout); err != nil {
				_ = tc.Close()
				return
			}
			stream, silent = sniffed, proto == detect.Opaque && len(sniffed.Prefix()) == 0
		}
	}
	if (proto == detect.HTTP1 || proto == detect.HTTP2) && !p.opaque(dst, alpn) {
		p.serveHTTP(stream, proto, info)
		return
	}
	app, err := p.Dialer.Dial(ctx, discovery.Target{Addr: dst})
	if err != nil {
		p.Log.Info("application connect failed", "dst", dst, "err", err)
		_ = stream.Close()
		return
	}
	if silent && !p.opaque(dst, alpn) {
		c, s, proto, err := sniff.Late(stream, app, p.DetectTimeout, p.Limits.TCPIdleTimeout)
		if err != nil {
			_ = stream.Close()
			_ = app.Close()
			return
		}
		if proto == detect.HTTP1 || proto == detect.HTTP2 {
			_ = app.Close() // unused: the client spoke HTTP first
			p.serveHTTP(c, proto, info)
			return
		}
		stream, app = c, s
	}
	relay.Pipe(stream, app, relay.Options{Idle: p.Limits.TCPIdleTimeout, Now: p.Now})
}

func (p *Proxy) serveHTTP(stream net.Conn, proto detect.Protocol, info httpfwd.ConnInfo) {
	info.HTTP2 = proto == detect.HTTP2
	if err := p.HTTP.Serve(stream, info); err != nil {
		_ = stream.Close()
	}
}

// opaque reports whether a stream to dst, on a connection that negotiated
// alpn ("" for plaintext), is relayed without protocol detection. The
// multiplexed connection of a peer proxy is HTTP whatever the port: a peer
// that did not know the port is opaque (an older proxy, discovery behind the
// pod's annotation) sends HTTP that way, and relaying its frames to the app
// would break every request.
func (p *Proxy) opaque(dst netip.AddrPort, alpn string) bool {
	switch alpn {
	case tlsid.OpaqueALPN:
		return true
	case tlsid.MuxALPN:
		return false
	}
	return p.OpaquePorts.Contains(dst.Port())
}

func (p *Proxy) terminate(ctx context.Context, conn net.Conn) (*tls.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	tc := tls.Server(conn, p.Mesh.ServerConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, "", err
	}
	peer, err := tlsid.HandshakePeer(tc.ConnectionState())
	if err != nil {
		return nil, "", err
	}
	return tc, peer, nil
}

func offersMeshALPN(hello []byte) bool {
	protos, err := detect.ClientHelloALPN(hello)
	return err == nil && slices.Contains(protos, contract.ALPN)
}
