package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
)

type targetKey struct{}

// WithTarget attaches the target a request must go to; RoundTrip reads it.
func WithTarget(ctx context.Context, t discovery.Target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// TargetFrom returns the target WithTarget stored in ctx.
func TargetFrom(ctx context.Context) discovery.Target {
	t, _ := ctx.Value(targetKey{}).(discovery.Target)
	return t
}

// OrigProtoHeader marks an HTTP/1.x request that the client-side proxy
// carries to the server-side proxy over the multiplexed HTTP/2 connection:
// the server-side proxy removes it and talks HTTP/1.1 to the application, as
// the client did. It is only honoured on connections that negotiated
// tlsid.MuxALPN.
const OrigProtoHeader = "Meshkeeper-Orig-Proto"

// legacyPeerTTL is how long a peer proxy that refused to multiplex is reached
// with a connection per request before asking again (it may be upgraded).
const legacyPeerTTL = time.Minute

// Pool sizes. Plain upstreams (the local application, unmeshed destinations)
// keep up to maxIdlePerHost idle HTTP/1 connections. A meshed peer gets up to
// maxH1PerPeer requests at a time on HTTP/1 connections of their own (the
// fastest path in Go, and all a steady load needs); requests beyond that
// share the multiplexed HTTP/2 connection, so a burst never opens, and
// handshakes, a connection per request.
const (
	maxIdlePerHost  = 64
	maxH1PerPeer    = 16
	maxTrackedPeers = 1024
	idleConnTimeout = 90 * time.Second
)

// transportKey separates pools: connections verified for one identity are
// never reused for another, and HTTP/2 requests ride HTTP/2 connections.
type transportKey struct {
	identity string
	h2       bool
	// mux is the multiplexed HTTP/2 connection between two proxies.
	mux bool
}

// Transports is an http.RoundTripper that sends each request to the target in
// its context, over a pooled plain or mTLS connection in the protocol the
// client used (HTTP/1.x or prior-knowledge HTTP/2). To a meshed peer proxy,
// HTTP/2 requests and the HTTP/1.x requests beyond maxH1PerPeer in flight
// ride the multiplexed HTTP/2 connection instead (HTTP/1.x ones marked with
// OrigProtoHeader); upgrades always get a connection of their own, and peers
// that do not multiplex get the per-request connections they always had.
type Transports struct {
	Dialer *Dialer
	// Now defaults to time.Now.
	Now func() time.Time

	mu       sync.Mutex
	m        map[transportKey]*http.Transport
	h1       map[string]*h1Pool           // by identity
	legacy   map[netip.AddrPort]time.Time // peer → when it refused to multiplex
	inflight map[peerKey]*peerGate        // HTTP/1 requests in flight to a meshed peer (gate.go)
}

type peerKey struct {
	identity string
	addr     netip.AddrPort
}

func (p *Transports) RoundTrip(req *http.Request) (*http.Response, error) {
	t, ok := req.Context().Value(targetKey{}).(discovery.Target)
	if !ok {
		return nil, errors.New("upstream: request has no target")
	}
	req.URL.Scheme = "http"
	req.URL.Host = t.Addr.String()
	h2 := req.ProtoMajor == 2
	if t.Meshed() && !isUpgrade(req) && !p.isLegacy(t.Addr) {
		if !h2 {
			if g := p.gateTo(peerKey{t.Identity, t.Addr}); g.enter(req.Context()) {
				return p.roundTripCounted(req, t, g)
			}
		}
		resp, err := p.roundTripMux(req, t, h2)
		if !errors.Is(err, errNoMux) {
			return resp, err
		}
		p.markLegacy(t.Addr)
	}
	if !h2 {
		return p.roundTripH1(req, t)
	}
	return p.transport(transportKey{identity: t.Identity, h2: true}).RoundTrip(req)
}

// roundTripH1 sends an HTTP/1 request on the caller's goroutine when it can
// (h1Pool), else through net/http's Transport.
func (p *Transports) roundTripH1(req *http.Request, t discovery.Target) (*http.Response, error) {
	if isUpgrade(req) || !inMemoryBody(req) {
		return p.transport(transportKey{identity: t.Identity}).RoundTrip(req)
	}
	return p.h1Pool(t.Identity).RoundTrip(req, t.Addr)
}

func (p *Transports) h1Pool(identity string) *h1Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pool, ok := p.h1[identity]; ok {
		return pool
	}
	if p.h1 == nil {
		p.h1 = map[string]*h1Pool{}
	}
	pool := &h1Pool{now: p.now, dial: func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		return p.Dialer.Dial(ctx, discovery.Target{Addr: addr, Identity: identity})
	}}
	p.h1[identity] = pool
	return pool
}

// roundTripCounted sends an HTTP/1 request admitted by g on a connection of
// its own; the request holds its slot until its response body is closed.
func (p *Transports) roundTripCounted(req *http.Request, t discovery.Target, g *peerGate) (*http.Response, error) {
	start := p.now()
	resp, err := p.roundTripH1(req, t)
	if err != nil {
		g.leave(p.now().Sub(start))
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, p: p, g: g, start: start}
	return resp, nil
}

// releaseBody frees its request's slot in g once, when the response body is
// closed, telling g how long the request held it.
type releaseBody struct {
	io.ReadCloser
	p     *Transports // its clock
	g     *peerGate
	start time.Time
	done  atomic.Bool
}

func (b *releaseBody) Close() error {
	if b.done.CompareAndSwap(false, true) {
		b.g.leave(b.p.now().Sub(b.start))
	}
	return b.ReadCloser.Close()
}

func (p *Transports) gateTo(k peerKey) *peerGate {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.inflight[k]
	if !ok {
		if p.inflight == nil {
			p.inflight = map[peerKey]*peerGate{}
		}
		if len(p.inflight) >= maxTrackedPeers {
			// Endpoints come and go; forget idle ones. A request still
			// holding a forgotten gate only loosens the bound briefly.
			for k, g := range p.inflight {
				if !g.busy() {
					delete(p.inflight, k)
				}
			}
		}
		g = newPeerGate()
		p.inflight[k] = g
	}
	return g
}

// roundTripMux sends req over the multiplexed connection. On errNoMux nothing
// was sent and req is left as it came, body unread and open, to be retried.
func (p *Transports) roundTripMux(req *http.Request, t discovery.Target, h2 bool) (*http.Response, error) {
	if !h2 {
		req.Header.Set(OrigProtoHeader, "HTTP/1.1")
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		// The transport closes the body on any error; a refused multiplex
		// must leave it readable for the retry.
		req.Body = keepOpen{body}
	}
	resp, err := p.transport(transportKey{identity: t.Identity, mux: true}).RoundTrip(req)
	if errors.Is(err, errNoMux) {
		req.Body = body
		req.Header.Del(OrigProtoHeader)
		return nil, errNoMux
	}
	if err != nil && body != nil {
		_ = body.Close()
	}
	return resp, err
}

// keepOpen hides Close from the transport; the server that owns the body
// closes it when the handler returns.
type keepOpen struct{ io.ReadCloser }

func (keepOpen) Close() error { return nil }

// isUpgrade reports whether req asks to switch protocols (websocket and the
// like) or tunnel (CONNECT): those take over a connection of their own.
func isUpgrade(req *http.Request) bool {
	if req.Method == http.MethodConnect {
		return true
	}
	for _, v := range req.Header["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return req.Header.Get("Upgrade") != ""
}

func (p *Transports) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Transports) isLegacy(addr netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.legacy[addr]
	if ok && p.now().Sub(at) > legacyPeerTTL {
		delete(p.legacy, addr)
		return false
	}
	return ok
}

func (p *Transports) markLegacy(addr netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.legacy == nil {
		p.legacy = map[netip.AddrPort]time.Time{}
	}
	p.legacy[addr] = p.now()
}

func (p *Transports) transport(k transportKey) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tr, ok := p.m[k]; ok {
		return tr
	}
	protocols := new(http.Protocols)
	if k.h2 || k.mux {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	dial := p.Dialer.Dial
	if k.mux {
		dial = p.Dialer.DialMux
	}
	tr := &http.Transport{
		// The mTLS (if any) is done by the dialer below; to the transport every
		// hop is "http" so it never adds TLS or negotiates ALPN itself.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return dial(ctx, discovery.Target{Addr: ap, Identity: k.identity})
		},
		Protocols:           protocols,
		DisableCompression:  true, // never add Accept-Encoding the client did not send
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: maxIdlePerHost,
		IdleConnTimeout:     idleConnTimeout,
	}
	if k.mux {
		// For HTTP/2 this bounds dials in flight, not connections: a burst of
		// first requests waits for one connection instead of each handshaking.
		tr.MaxConnsPerHost = 1
	}
	if p.m == nil {
		p.m = make(map[transportKey]*http.Transport)
	}
	p.m[k] = tr
	return tr
}

// CloseIdle closes idle pooled connections (on shutdown).
func (p *Transports) CloseIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.m {
		tr.CloseIdleConnections()
	}
	for _, pool := range p.h1 {
		pool.closeIdle()
	}
}
