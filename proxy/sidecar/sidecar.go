// Package sidecar wires the proxy together: trust bundle, identity,
// discovery, metrics, and the inbound, outbound and admin listeners. Every
// external dependency can be replaced through Options, which is how the
// loopback tests run two proxies in one process.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/admin"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/config"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/httpfwd"
	"github.com/meshkeeper/meshkeeper/proxy/identity"
	"github.com/meshkeeper/meshkeeper/proxy/inbound"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
	"github.com/meshkeeper/meshkeeper/proxy/origdst"
	"github.com/meshkeeper/meshkeeper/proxy/outbound"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
	"github.com/meshkeeper/meshkeeper/proxy/trust"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// DefaultDetectTimeout is how long the proxy waits for a client's first bytes
// before treating the connection as opaque (server-first protocols).
const DefaultDetectTimeout = time.Second

var errNoDiscoveryYet = errors.New("no discovery snapshot yet")

// Certs is the workload certificate source plus its issuer fingerprint.
type Certs interface {
	tlsid.CertSource
	IssuerLabel() string
}

// Options configures Run. Zero values mean production behaviour.
type Options struct {
	Config  config.Config
	Version string
	Log     *slog.Logger
	Clock   clock.Clock

	// Listeners default to the contract ports (outbound on loopback only).
	Inbound, Outbound, Admin net.Listener
	// Outbound6 is the outbound listener on ::1, where the IPv6 redirect
	// sends the app's connections. By default it is opened along with a
	// default Outbound, when the pod has IPv6.
	Outbound6 net.Listener
	// OrigDst defaults to SO_ORIGINAL_DST.
	OrigDst origdst.Resolver
	// Certs defaults to an identity client against Config.IdentityAddr.
	Certs Certs
	// Discovery defaults to a store fed by a client of Config.DiscoveryAddr.
	Discovery *discovery.Store
	// Random returns uniform values in [0,1) for fault injection.
	Random        func() float64
	DetectTimeout time.Duration
	// Started, if set, is called with the bound listener addresses.
	Started func(inbound, outbound, admin net.Addr)
}

// Run serves until ctx ends.
func Run(ctx context.Context, o Options) error {
	o = withDefaults(o)
	cfg, log := o.Config, o.Log

	bundle, err := trust.Load(cfg.TrustRootsPath, log)
	if err != nil {
		return err
	}
	go bundle.Watch(ctx, o.Clock, trust.PollInterval)

	if o.Certs == nil {
		client := &identity.Client{
			Addr: cfg.IdentityAddr, TokenPath: cfg.TokenPath, Identity: cfg.Identity(),
			Roots: bundle, Clock: o.Clock, Log: log.With("component", "identity"),
		}
		go client.Run(ctx)
		o.Certs = client
	}
	ownDiscovery := o.Discovery == nil
	if ownDiscovery {
		o.Discovery = &discovery.Store{}
	}
	// Discovery advertises the issuer the identity service signs with; a
	// certificate from another one is renewed early (trust rotation).
	if h, ok := o.Certs.(interface{ AdvertisedIssuer(string) }); ok {
		o.Discovery.OnIssuer(h.AdvertisedIssuer)
	}
	if ownDiscovery {
		client := &discovery.Client{
			Addr: cfg.DiscoveryAddr, Roots: bundle, Certs: o.Certs, Store: o.Discovery,
			Clock: o.Clock, Log: log.With("component", "discovery"),
		}
		go client.Run(ctx)
	}

	m := metrics.New(o.Version, buildInfo{bundle, o.Certs})
	m.Now = o.Clock.Now
	mesh := tlsid.Mesh{Certs: o.Certs, Roots: bundle, TrustDomain: cfg.TrustDomain, Now: o.Clock.Now}
	dialer := &upstream.Dialer{Mesh: mesh}
	outTransports, inTransports := &upstream.Transports{Dialer: dialer}, &upstream.Transports{Dialer: dialer}
	defer outTransports.CloseIdle()
	defer inTransports.CloseIdle()

	outHTTP := httpfwd.New(httpfwd.Config{
		Direction: contract.DirectionOutbound, Metrics: m, Route: outbound.HTTPRoute(o.Discovery.Resolve),
		Upstream: outTransports, Limits: cfg.Limits, Now: o.Clock.Now, Log: log,
	})
	defer outHTTP.Close()
	inHTTP := httpfwd.New(httpfwd.Config{
		Direction: contract.DirectionInbound, Metrics: m, Route: inbound.HTTPRoute,
		Upstream: inTransports, Fault: fault(cfg.FaultFailureRate, o.Random), Limits: cfg.Limits, Now: o.Clock.Now, Log: log,
	})
	defer inHTTP.Close()

	if err := listenDefaults(&o); err != nil {
		return err
	}
	var listening atomic.Bool
	ready := func() error {
		if !listening.Load() {
			return errors.New("listeners not up")
		}
		if o.Certs.Current() == nil {
			return tlsid.ErrNoCertificate
		}
		// Until the first snapshot, every mesh destination would look
		// unmeshed and get plaintext, which a strict peer refuses.
		if ownDiscovery && o.Discovery.Revision() == 0 {
			return errNoDiscoveryYet
		}
		return nil
	}
	adminSrv := &http.Server{Handler: admin.Handler(m.Registry, ready, cfg.AppProbes, cfg.PodIP),
		ReadHeaderTimeout: cfg.Limits.HeaderTimeout, IdleTimeout: cfg.Limits.IdleTimeout, MaxHeaderBytes: admin.MaxHeaderBytes}
	defer adminSrv.Close()

	self := origdst.NewSelf(cfg.PodIP, o.Inbound.Addr(), o.Outbound.Addr(), o.Admin.Addr())
	in := &inbound.Proxy{OrigDst: o.OrigDst, Self: self, Mesh: mesh, Strict: cfg.Strict, Dialer: dialer, HTTP: inHTTP,
		Metrics: m, DetectTimeout: o.DetectTimeout, Limits: cfg.Limits, Now: o.Clock.Now, OpaquePorts: cfg.OpaquePorts, Log: log.With("direction", contract.DirectionInbound)}
	out := &outbound.Proxy{OrigDst: o.OrigDst, Self: self, Resolve: o.Discovery.Resolve, Dialer: dialer, HTTP: outHTTP,
		Metrics: m, DetectTimeout: o.DetectTimeout, Limits: cfg.Limits, Now: o.Clock.Now, Log: log.With("direction", contract.DirectionOutbound)}

	errc := make(chan error, 4)
	go func() { errc <- in.Serve(ctx, o.Inbound) }()
	go func() { errc <- out.Serve(ctx, o.Outbound) }()
	if o.Outbound6 != nil {
		go func() { errc <- out.Serve(ctx, o.Outbound6) }()
	}
	go func() {
		if err := adminSrv.Serve(admin.Limit(o.Admin, admin.MaxConns, admin.MaxConnsPerIP)); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	listening.Store(true)
	if o.Started != nil {
		o.Started(o.Inbound.Addr(), o.Outbound.Addr(), o.Admin.Addr())
	}
	log.Info("proxy started", "version", o.Version, "identity", cfg.Identity(), "strict", cfg.Strict,
		"inbound", o.Inbound.Addr().String(), "outbound", o.Outbound.Addr().String(), "admin", o.Admin.Addr().String())
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("listener failed: %w", err)
		}
		<-ctx.Done()
		return nil
	}
}

func withDefaults(o Options) Options {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.OrigDst == nil {
		o.OrigDst = origdst.Kernel{}
	}
	if o.Random == nil {
		o.Random = rand.Float64
	}
	if o.DetectTimeout == 0 {
		o.DetectTimeout = DefaultDetectTimeout
	}
	o.Config.Limits = o.Config.Limits.WithDefaults()
	return o
}

func listenDefaults(o *Options) error {
	if o.Outbound == nil && o.Outbound6 == nil {
		// Without IPv6 in the pod there is no ::1 and nothing to redirect there.
		if ln, err := net.Listen("tcp6", "[::1]:"+strconv.Itoa(contract.ProxyOutboundPort)); err == nil {
			o.Outbound6 = ln
		} else {
			o.Log.Info("no IPv6 outbound listener", "err", err)
		}
	}
	for _, l := range []struct {
		ln   *net.Listener
		addr string
	}{
		// ":port" listens on IPv4 and IPv6 alike (IPv4 only without IPv6).
		{&o.Inbound, ":" + strconv.Itoa(contract.ProxyInboundPort)},
		{&o.Outbound, "127.0.0.1:" + strconv.Itoa(contract.ProxyOutboundPort)},
		{&o.Admin, ":" + strconv.Itoa(contract.ProxyAdminPort)},
	} {
		if *l.ln != nil {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return err
		}
		*l.ln = ln
	}
	return nil
}

type buildInfo struct {
	bundle *trust.Bundle
	certs  Certs
}

func (b buildInfo) AnchorsLabel() string { return b.bundle.AnchorsLabel() }
func (b buildInfo) IssuerLabel() string  { return b.certs.IssuerLabel() }
