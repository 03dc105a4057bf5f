// Package httpfwd proxies HTTP request by request, so every response's status
// and latency are observed, while the application on either side sees the
// same headers, bodies, streaming and keep-alive it would see without the mesh.
package httpfwd

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// FlushInterval bounds how long bytes of a response of known length may wait
// in the proxy's buffers before they are written to the client.
const FlushInterval = 2 * time.Millisecond

// ConnInfo describes the downstream connection a request arrived on.
type ConnInfo struct {
	// Dst is the connection's original destination.
	Dst netip.AddrPort
	// Peer is the verified identity of a meshed client (inbound mTLS only).
	Peer string
	// TLS is true when the connection arrived over mesh mTLS.
	TLS bool
	// Mux is true when that connection is the multiplexed HTTP/2 connection
	// of a peer proxy (tlsid.MuxALPN): upstream.OrigProtoHeader is honoured.
	Mux bool
	// HTTP2 is true when the connection starts with the HTTP/2 preface.
	HTTP2 bool
	// Idle, when set, is told while the connection waits for its next
	// request (accept.Idler), so its listener may reclaim it at the cap.
	Idle interface{ SetIdle(idle bool) }
}

func (ci ConnInfo) setIdle(idle bool) {
	if ci.Idle != nil {
		ci.Idle.SetIdle(idle)
	}
}

// Config configures one direction's HTTP proxy.
type Config struct {
	Direction string
	Metrics   *metrics.Metrics
	// Route picks the target of one request; outbound balances per request.
	Route    func(ConnInfo) discovery.Target
	Upstream *upstream.Transports
	// Fault, when set and returning true, answers a request with 503 itself.
	Fault func() bool
	// Limits bound header reading, idleness and header size (zero fields:
	// contract.DefaultProxyLimits).
	Limits contract.ProxyLimits
	Now    func() time.Time
	Log    *slog.Logger
}

// Server serves HTTP on connections handed to it by a listener loop.
type Server struct {
	cfg Config
	ln  *connListener
	srv *http.Server
	rp  *httputil.ReverseProxy
	// transport forwards requests (with retries outbound).
	transport http.RoundTripper
	fast      fastConns
}

// xForwarded are removed by ReverseProxy's Rewrite mode; the mesh must pass
// them through as the client sent them.
var xForwarded = []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

type connInfoKey struct{}

// infoConn carries ConnInfo from the listener loop into the request context.
type infoConn struct {
	net.Conn
	info ConnInfo
}

// New starts serving; Close stops it.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	s := &Server{cfg: cfg, ln: newConnListener(&net.TCPAddr{})}
	var transport http.RoundTripper = cfg.Upstream
	if cfg.Direction == contract.DirectionOutbound {
		transport = retrying{next: cfg.Upstream, reroute: func(r *http.Request) discovery.Target {
			info, _ := r.Context().Value(connInfoKey{}).(ConnInfo)
			return cfg.Route(info)
		}}
	}
	s.transport = transport
	s.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			for _, h := range xForwarded {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:  transport,
		BufferPool: &bufferPool{},
		// Responses of unknown length (chunked, gRPC, long polls) and
		// server-sent events are flushed at every write regardless (ReverseProxy
		// recognises them). A response of known length is flushed at most
		// FlushInterval after a write, so one that arrives at once leaves in a
		// single write with its headers instead of two or three.
		FlushInterval: FlushInterval,
		ErrorLog:      slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if sw, ok := w.(*statusWriter); ok {
				sw.transportE = true
			}
			cfg.Log.Debug("upstream request failed", "direction", cfg.Direction, "host", r.Host, "err", err)
			if cfg.Direction == contract.DirectionInbound && isDialError(err) {
				// The app never saw the request: the client's proxy may retry it elsewhere.
				w.Header().Set(ProxyErrorHeader, AppUnavailable)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{
		Handler:                      s,
		Protocols:                    protocols,
		DisableGeneralOptionsHandler: true, // "OPTIONS *" belongs to the app
		ReadHeaderTimeout:            cfg.Limits.HeaderTimeout,
		IdleTimeout:                  cfg.Limits.IdleTimeout,
		MaxHeaderBytes:               cfg.Limits.MaxHeaderBytes,
		ErrorLog:                     slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		ConnState: func(c net.Conn, st http.ConnState) {
			if ic, ok := c.(*infoConn); ok {
				ic.info.setIdle(st == http.StateIdle)
			}
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if ic, ok := c.(*infoConn); ok {
				return context.WithValue(ctx, connInfoKey{}, ic.info)
			}
			return ctx
		},
	}
	go func() { _ = s.srv.Serve(s.ln) }()
	return s
}

// Serve hands a sniffed HTTP connection to the server, which owns it from now on.
// HTTP/1 connections start on the fast path (fast.go) on the caller's goroutine.
func (s *Server) Serve(conn net.Conn, info ConnInfo) error {
	if !info.HTTP2 && !info.Mux {
		return s.serveFast(conn, info)
	}
	return s.ln.push(&infoConn{Conn: conn, info: info})
}

// Close stops accepting and closes every connection.
func (s *Server) Close() error {
	s.fast.closeAll()
	return s.srv.Close()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, _ := r.Context().Value(connInfoKey{}).(ConnInfo)
	start := s.cfg.Now()
	sw := &statusWriter{ResponseWriter: w, now: s.cfg.Now}
	target := s.cfg.Route(info)
	peer, tls := info.Peer, info.TLS
	if s.cfg.Direction == contract.DirectionOutbound {
		peer, tls = target.Identity, target.Meshed()
	}
	defer func() {
		end := sw.headersAt
		if end.IsZero() {
			end = s.cfg.Now()
		}
		s.cfg.Metrics.ObserveRequest(metrics.Request{
			Direction: s.cfg.Direction, Status: sw.status, TransportError: sw.transportE,
			PeerIdentity: peer, TLS: tls, Latency: end.Sub(start),
		})
	}()
	// A proxy streams both ways at once: without full duplex, HTTP/1 would
	// discard or close the request body as soon as response headers are
	// written, racing the upstream transport still sending it.
	_ = http.NewResponseController(w).EnableFullDuplex()
	if s.cfg.Fault != nil && s.cfg.Fault() {
		http.Error(sw, "fault injected by the meshkeeper proxy", http.StatusServiceUnavailable)
		return
	}
	if info.Mux && r.ProtoMajor == 2 {
		if _, ok := r.Header[upstream.OrigProtoHeader]; ok {
			// The client spoke HTTP/1.x to its proxy: so does the application see it.
			delete(r.Header, upstream.OrigProtoHeader)
			r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
		}
	}
	readSmallBody(r)
	s.rp.ServeHTTP(sw, r.WithContext(upstream.WithTarget(r.Context(), target)))
}
