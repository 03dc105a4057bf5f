package contract

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ProxyLimits bound what any client can make a proxy hold. Every listener
// (inbound, outbound) applies them; each is set mesh-wide through the
// proxy's environment (chart value proxy.env) and per pod through an
// annotation (ProxyLimitSettings).
type ProxyLimits struct {
	// MaxConnections is the cap on open connections per listener. At the cap
	// an idle keep-alive connection is closed to make room; with none idle
	// the listener stops accepting, and new connections wait in the
	// kernel's accept queue until one closes.
	MaxConnections int
	// HeaderTimeout bounds reading a request's headers (and a small body read
	// whole), from its first byte; a new connection must send them within it.
	HeaderTimeout time.Duration
	// IdleTimeout closes an HTTP connection with no request in flight.
	IdleTimeout time.Duration
	// TCPIdleTimeout closes a relayed (opaque TCP) connection after no byte
	// in either direction.
	TCPIdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block; larger gets 431.
	MaxHeaderBytes int
}

// DefaultProxyLimits fit a sidecar with a 128 MiB memory limit. A
// connection stalled in its headers holds them about twice (the bytes kept
// for a hand-off to net/http, and the header parsed so far), so the cap and
// the header size together bound the attacked proxy's memory: 1000
// connections trickling 19 KiB of headers held 49 MB of live heap and
// 104 MiB of RSS (`make bench-slowheaders`, with GOMEMLIMIT as in a 128 MiB
// pod); with 32 KiB headers it reached the soft limit. So:
//   - 1000 connections per listener: only the inbound one is reachable from
//     other pods, and meshed clients multiplex over one connection per peer
//     proxy;
//   - 16 KiB of headers, HAProxy's default buffer;
//   - 10 s to send them, as the proxy's TLS handshake allows;
//   - 5 min of HTTP keep-alive idleness, longer than common client pools
//     (Go 90 s), so the client, not the proxy, closes idle connections and no
//     request races a close;
//   - 1 h of TCP idleness, Envoy's TCP proxy default: database and broker
//     connections idle for long stretches.
var DefaultProxyLimits = ProxyLimits{
	MaxConnections: 1000,
	HeaderTimeout:  10 * time.Second,
	IdleTimeout:    5 * time.Minute,
	TCPIdleTimeout: time.Hour,
	MaxHeaderBytes: 16 << 10,
}

// ProxyLimitSetting is one limit: its environment variable, its pod
// annotation, and how a value is read and applied.
type ProxyLimitSetting struct {
	Env        string
	Annotation string
	// Set parses s and stores it in l; an error leaves l unchanged.
	Set func(l *ProxyLimits, s string) error
}

// Environment variables and annotations of the proxy limits.
const (
	EnvProxyMaxConnections = "MESHKEEPER_PROXY_MAX_CONNECTIONS"
	EnvProxyHeaderTimeout  = "MESHKEEPER_PROXY_HEADER_TIMEOUT"
	EnvProxyIdleTimeout    = "MESHKEEPER_PROXY_IDLE_TIMEOUT"
	EnvProxyTCPIdleTimeout = "MESHKEEPER_PROXY_TCP_IDLE_TIMEOUT"
	EnvProxyMaxHeaderBytes = "MESHKEEPER_PROXY_MAX_HEADER_BYTES"

	ProxyMaxConnectionsAnnotation = "meshkeeper.io/proxy-max-connections"
	ProxyHeaderTimeoutAnnotation  = "meshkeeper.io/proxy-header-timeout"
	ProxyIdleTimeoutAnnotation    = "meshkeeper.io/proxy-idle-timeout"
	ProxyTCPIdleTimeoutAnnotation = "meshkeeper.io/proxy-tcp-idle-timeout"
	ProxyMaxHeaderBytesAnnotation = "meshkeeper.io/proxy-max-header-bytes"
)

// ProxyLimitSettings lists every limit, for the proxy's configuration and
// the injector's annotations. The ranges keep a setting meaningful: no
// limit can be switched off, and none is so small it breaks ordinary clients.
var ProxyLimitSettings = []ProxyLimitSetting{
	{EnvProxyMaxConnections, ProxyMaxConnectionsAnnotation, func(l *ProxyLimits, s string) error {
		return parseInt(s, 1, 100_000, &l.MaxConnections)
	}},
	{EnvProxyHeaderTimeout, ProxyHeaderTimeoutAnnotation, func(l *ProxyLimits, s string) error {
		return parseDuration(s, 100*time.Millisecond, 10*time.Minute, &l.HeaderTimeout)
	}},
	{EnvProxyIdleTimeout, ProxyIdleTimeoutAnnotation, func(l *ProxyLimits, s string) error {
		return parseDuration(s, time.Second, 24*time.Hour, &l.IdleTimeout)
	}},
	{EnvProxyTCPIdleTimeout, ProxyTCPIdleTimeoutAnnotation, func(l *ProxyLimits, s string) error {
		return parseDuration(s, time.Second, 7*24*time.Hour, &l.TCPIdleTimeout)
	}},
	{EnvProxyMaxHeaderBytes, ProxyMaxHeaderBytesAnnotation, func(l *ProxyLimits, s string) error {
		return parseInt(s, 4<<10, 1<<20, &l.MaxHeaderBytes)
	}},
}

func parseInt(s string, lo, hi int, dst *int) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("%q: want an integer from %d to %d", s, lo, hi)
	}
	*dst = n
	return nil
}

func parseDuration(s string, lo, hi time.Duration, dst *time.Duration) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < lo || d > hi {
		return fmt.Errorf("%q: want a duration from %s to %s (e.g. 30s, 5m)", s, lo, hi)
	}
	*dst = d
	return nil
}

// WithDefaults fills the limits left zero with DefaultProxyLimits.
func (l ProxyLimits) WithDefaults() ProxyLimits {
	d := DefaultProxyLimits
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.HeaderTimeout == 0 {
		l.HeaderTimeout = d.HeaderTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.TCPIdleTimeout == 0 {
		l.TCPIdleTimeout = d.TCPIdleTimeout
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}
