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
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

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
	// Fault, when set and returning true, answers a request with 503 itself
	// (a gRPC call with UNAVAILABLE, as a failing gRPC server would). Only
	// builds with the meshkeeper_faults tag consult it (fault.go).
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

// CloseWrite passes net/http's half-close through: closing a connection
// after a response, net/http's server half-closes it, then lingers 500ms
// before the full close. Hidden behind a wrapper, the half-close did not
// happen, and a client reading to the end (Connection: close, a response
// delimited by the close) waited those 500ms.
func (c *infoConn) CloseWrite() error { return closeWrite(c.Conn) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
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
		}, budget: &retryBudget{now: cfg.Now}, counted: cfg.Metrics.Retry}
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
		FlushInterval:  FlushInterval,
		ErrorLog:       slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		ModifyResponse: trackResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Log.Debug("upstream request failed", "direction", cfg.Direction, "host", r.Host, "err", err)
			if t := trackerFrom(r.Context()); t != nil {
				t.fail(errorKind(err, t.client))
				if t.client.Err() != nil {
					return // nobody is left to answer
				}
			}
			if cfg.Direction == contract.DirectionInbound {
				// Tells the client's proxy whether it may retry elsewhere.
				w.Header().Set(ProxyErrorHeader, appFailure(err))
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	if cfg.Direction == contract.DirectionInbound {
		s.rp.ModifyResponse = func(resp *http.Response) error {
			stripInternal(resp.Header)
			return trackResponse(resp)
		}
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
	if r.URL.Opaque != "" || !httpguts.ValidHostHeader(r.Host) {
		refuseTarget(w)
		return
	}
	info, _ := r.Context().Value(connInfoKey{}).(ConnInfo)
	target := s.cfg.Route(info)
	t := s.track(r.Context(), info, target, r.Header)
	// A request still uncounted when the handler returns (or aborts, a
	// panic included) did not end normally.
	defer t.giveUp()
	sw := &statusWriter{ResponseWriter: w, t: t}
	// A proxy streams both ways at once: without full duplex, HTTP/1 would
	// discard or close the request body as soon as response headers are
	// written, racing the upstream transport still sending it.
	_ = http.NewResponseController(w).EnableFullDuplex()
	if s.faulted() {
		t.fail(contract.ErrorFaultInjected)
		writeFault(sw, r, t)
		return
	}
	if s.cfg.Direction == contract.DirectionOutbound {
		stripInternal(r.Header)
	}
	if info.Mux && r.ProtoMajor == 2 {
		if _, ok := r.Header[upstream.OrigProtoHeader]; ok {
			// The client spoke HTTP/1.x to its proxy: so does the application see it.
			delete(r.Header, upstream.OrigProtoHeader)
			r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
		}
	}
	guard := guardBody(r)
	readSmallBody(r)
	ctx := context.WithValue(upstream.WithTarget(r.Context(), target), trackerKey{}, t)
	s.rp.ServeHTTP(sw, r.WithContext(ctx))
	if guard != nil && guard.failed.Load() {
		closeAfterReply(w)
	}
}

// refuseTarget answers a request whose target net/http's server accepts but
// net/http's client cannot send on: an absolute URI without authority
// ("GET http:foo", "GET a:0") has no origin-form, and the upstream would get
// "GET foo"; an absolute-form authority that is no valid Host ("GET
// http://a"b/", checked only in a Host header) would reach it as an empty
// Host. Like net/http's own refusals of malformed requests, it is not
// counted and closes.
func refuseTarget(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.Error(w, "400 Bad Request: request target cannot be forwarded", http.StatusBadRequest)
}

// track starts following one request: the peer is the client's identity
// inbound, the target's outbound.
func (s *Server) track(client context.Context, info ConnInfo, target discovery.Target, h http.Header) *tracker {
	obs := metrics.Request{Direction: s.cfg.Direction, PeerIdentity: info.Peer, TLS: info.TLS}
	if s.cfg.Direction == contract.DirectionOutbound {
		obs.PeerIdentity, obs.TLS = target.Identity, target.Meshed()
		obs.Dst = metrics.Dst{Namespace: target.Namespace, Service: target.Service}
	}
	obs.GRPC = metrics.IsGRPC(h.Get("Content-Type"))
	return &tracker{m: s.cfg.Metrics, now: s.cfg.Now, start: s.cfg.Now(), client: client, obs: obs}
}

// trackResponse (ReverseProxy.ModifyResponse) hands the response's end to
// its tracker. A protocol switch is counted at once: what follows is a
// stream of bytes, counted by the TCP metrics of its connection.
func trackResponse(res *http.Response) error {
	t := trackerFrom(res.Request.Context())
	if t == nil {
		return nil
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy refuses a switch to another protocol than asked (502).
		if strings.EqualFold(res.Header.Get("Upgrade"), res.Request.Header.Get("Upgrade")) {
			t.answered(http.StatusSwitchingProtocols)
			t.finish()
		}
		return nil
	}
	res.Body = &endBody{ReadCloser: res.Body, res: res, t: t}
	return nil
}
