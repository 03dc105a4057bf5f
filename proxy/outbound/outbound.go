// Package outbound is the proxy's listener for connections the application
// opens: it finds where each was going, upgrades meshed destinations to mTLS
// and proxies HTTP per request; everything else passes through untouched.
package outbound

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
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
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// Proxy handles redirected outbound connections.
type Proxy struct {
	OrigDst origdst.Resolver
	// Self is what the proxy never forwards to: its own ports.
	Self origdst.Self
	// Resolve maps an original destination to a target (discovery.Store.Resolve).
	Resolve       func(netip.AddrPort) discovery.Target
	Dialer        *upstream.Dialer
	HTTP          *httpfwd.Server
	Metrics       *metrics.Metrics
	DetectTimeout time.Duration
	// Limits caps the listener's connections and the relay's idleness
	// (HTTP has its own, in HTTP).
	Limits contract.ProxyLimits
	Now    func() time.Time
	Log    *slog.Logger
}

// HTTPRoute is the per-request routing rule the outbound HTTP server uses.
func HTTPRoute(resolve func(netip.AddrPort) discovery.Target) func(httpfwd.ConnInfo) discovery.Target {
	return func(ci httpfwd.ConnInfo) discovery.Target { return resolve(ci.Dst) }
}

// Serve accepts until ctx ends or ln fails.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	return accept.Loop(ctx, ln, p.Limits.MaxConnections, p.Log, p.handle)
}

func (p *Proxy) handle(ctx context.Context, conn net.Conn) {
	idler, _ := conn.(accept.Idler) // the listener's slot, reclaimable while idle
	dst, err := p.OrigDst.OriginalDst(conn)
	if err != nil {
		p.Log.Debug("outbound connection without original destination", "remote", conn.RemoteAddr(), "err", err)
		_ = conn.Close()
		return
	}
	if reason := p.Self.Outbound(dst, origdst.LocalAddr(conn)); reason != "" {
		p.Metrics.Refused(contract.DirectionOutbound, reason)
		p.Log.Debug("refused outbound connection", "remote", conn.RemoteAddr(), "dst", dst, "reason", reason)
		_ = conn.Close()
		return
	}
	target := p.Resolve(dst)
	conn = metrics.CountConn(conn, p.Metrics.ConnOpened(contract.DirectionOutbound, target.Meshed(),
		metrics.Dst{Namespace: target.Namespace, Service: target.Service}))
	var stream net.Conn = conn
	silent := false     // the client said nothing within the detection timeout
	if !target.Opaque { // an opaque port is never sniffed: its server may speak first
		sniffed, proto, err := sniff.Protocol(conn, p.DetectTimeout)
		if err != nil {
			_ = conn.Close()
			return
		}
		if proto == detect.HTTP1 || proto == detect.HTTP2 {
			p.serveHTTP(sniffed, dst, proto, idler)
			return
		}
		stream, silent = sniffed, len(sniffed.Prefix()) == 0
	}
	// The peer proxy is told the stream is opaque: this proxy already decided
	// (or waited out detection), so it relays without waiting again.
	up, err := p.Dialer.DialOpaque(ctx, target)
	if err != nil {
		p.Log.Info("outbound connect failed", "dst", dst, "target", target.Addr, "identity", target.Identity, "err", err)
		_ = conn.Close()
		return
	}
	if silent {
		c, s, proto, err := sniff.Late(stream, up, p.DetectTimeout, p.Limits.TCPIdleTimeout)
		if err != nil {
			_ = conn.Close()
			_ = up.Close()
			return
		}
		if proto == detect.HTTP1 || proto == detect.HTTP2 {
			_ = up.Close() // unused: the client spoke HTTP first
			p.serveHTTP(c, dst, proto, idler)
			return
		}
		stream, up = c, s
	}
	relay.Pipe(stream, up, relay.Options{Idle: p.Limits.TCPIdleTimeout, Now: p.Now})
}

func (p *Proxy) serveHTTP(stream net.Conn, dst netip.AddrPort, proto detect.Protocol, idler accept.Idler) {
	if err := p.HTTP.Serve(stream, httpfwd.ConnInfo{Dst: dst, HTTP2: proto == detect.HTTP2, Idle: idler}); err != nil {
		_ = stream.Close()
	}
}
