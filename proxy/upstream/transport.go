package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
)

type targetKey struct{}

// WithTarget attaches the target a request must go to; RoundTrip reads it.
func WithTarget(ctx context.Context, t discovery.Target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// transportKey separates pools: connections verified for one identity are
// never reused for another, and HTTP/2 requests ride HTTP/2 connections.
type transportKey struct {
	identity string
	h2       bool
}

// Transports is an http.RoundTripper that sends each request to the target in
// its context over a pooled plain or mTLS connection, in the protocol the
// client used (HTTP/1.x or prior-knowledge HTTP/2).
type Transports struct {
	Dialer *Dialer

	mu sync.Mutex
	m  map[transportKey]*http.Transport
}

func (p *Transports) RoundTrip(req *http.Request) (*http.Response, error) {
	t, ok := req.Context().Value(targetKey{}).(discovery.Target)
	if !ok {
		return nil, errors.New("upstream: request has no target")
	}
	req.URL.Scheme = "http"
	req.URL.Host = t.Addr.String()
	return p.transport(transportKey{identity: t.Identity, h2: req.ProtoMajor == 2}).RoundTrip(req)
}

func (p *Transports) transport(k transportKey) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tr, ok := p.m[k]; ok {
		return tr
	}
	protocols := new(http.Protocols)
	if k.h2 {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	tr := &http.Transport{
		// The mTLS (if any) is done by the dialer below; to the transport every
		// hop is "http" so it never adds TLS or negotiates ALPN itself.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return p.Dialer.Dial(ctx, discovery.Target{Addr: ap, Identity: k.identity})
		},
		Protocols:           protocols,
		DisableCompression:  true, // never add Accept-Encoding the client did not send
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
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
}
