// Package config reads the proxy's whole configuration from the environment
// the injector sets (contract.Env*).
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Config is everything the proxy needs to run.
type Config struct {
	IdentityAddr   string
	DiscoveryAddr  string
	TrustDomain    string
	TrustRootsPath string
	TokenPath      string
	PodName        string
	PodNamespace   string
	PodIP          string
	ServiceAccount string
	// Strict refuses plaintext inbound connections.
	Strict   bool
	LogLevel slog.Level
	// Cores is the number of cores' worth of Go code the proxy runs at once.
	Cores int
	// OpaquePorts are the pod's own ports relayed without protocol detection
	// (contract.EnvOpaquePorts; default contract.DefaultOpaquePorts).
	OpaquePorts contract.PortRanges
	// SkipInboundPorts bypass the proxy (proxy-init exempts them); kept for logs.
	SkipInboundPorts []uint16
	// FaultFailureRate is the test-only share of inbound HTTP requests answered
	// 503. Only builds with the meshkeeper_faults tag read it from the
	// environment or act on it (fault.go); the production proxy has neither.
	FaultFailureRate float64
	// FaultProxyVersion, when set, applies the fault only to that proxy version.
	FaultProxyVersion string
	// AppProbes are the app's HTTP probes the injector moved to the admin port
	// (strict pods), by admin path.
	AppProbes map[string]contract.AppProbe
	// Limits bound every listener (contract.ProxyLimitSettings).
	Limits contract.ProxyLimits
}

// Identity is the SPIFFE ID this pod's proxy should hold.
func (c Config) Identity() string {
	return contract.SPIFFEID(c.TrustDomain, c.PodNamespace, c.ServiceAccount)
}

// FromEnv parses the configuration; getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		IdentityAddr:   getenv(contract.EnvIdentityAddr),
		DiscoveryAddr:  getenv(contract.EnvDiscoveryAddr),
		TrustDomain:    getenv(contract.EnvTrustDomain),
		TrustRootsPath: getenv(contract.EnvTrustRootsPath),
		TokenPath:      getenv(contract.EnvTokenPath),
		PodName:        getenv(contract.EnvPodName),
		PodNamespace:   getenv(contract.EnvPodNamespace),
		PodIP:          getenv(contract.EnvPodIP),
		ServiceAccount: getenv(contract.EnvServiceAccount),
	}
	var errs []error
	for _, req := range []struct{ env, val string }{
		{contract.EnvIdentityAddr, c.IdentityAddr},
		{contract.EnvDiscoveryAddr, c.DiscoveryAddr},
		{contract.EnvTrustDomain, c.TrustDomain},
		{contract.EnvTrustRootsPath, c.TrustRootsPath},
		{contract.EnvTokenPath, c.TokenPath},
		{contract.EnvPodNamespace, c.PodNamespace},
		{contract.EnvServiceAccount, c.ServiceAccount},
	} {
		if req.val == "" {
			errs = append(errs, fmt.Errorf("%s is required", req.env))
		}
	}
	switch mode := getenv(contract.EnvMTLSMode); mode {
	case "", contract.MTLSPermissive:
	case contract.MTLSStrict:
		c.Strict = true
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want %q or %q", contract.EnvMTLSMode, mode, contract.MTLSPermissive, contract.MTLSStrict))
	}
	if lvl := getenv(contract.EnvLogLevel); lvl != "" {
		if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", contract.EnvLogLevel, err))
		}
	}
	ports, err := ParsePorts(getenv(contract.EnvSkipInboundPorts))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", contract.EnvSkipInboundPorts, err))
	}
	c.SkipInboundPorts = ports
	opaque, err := contract.ParseOpaquePortsEnv(getenv(contract.EnvOpaquePorts))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", contract.EnvOpaquePorts, err))
	}
	c.OpaquePorts = opaque
	if err := parseFault(getenv, &c); err != nil {
		errs = append(errs, err)
	}
	c.Cores = contract.DefaultProxyCores
	if s := getenv(contract.EnvProxyCores); s != "" {
		n, err := contract.ParseProxyCores(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", contract.EnvProxyCores, err))
		}
		c.Cores = n
	}
	if raw := getenv(contract.EnvAppProbes); raw != "" {
		probes, err := parseAppProbes(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", contract.EnvAppProbes, err))
		}
		c.AppProbes = probes
	}
	c.Limits = contract.DefaultProxyLimits
	for _, s := range contract.ProxyLimitSettings {
		if v := getenv(s.Env); v != "" {
			if err := s.Set(&c.Limits, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
		}
	}
	return c, errors.Join(errs...)
}

// ParsePorts reads a comma-separated list of TCP ports; blanks are ignored.
func ParsePorts(csv string) ([]uint16, error) {
	var ports []uint16
	for _, f := range strings.Split(csv, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("invalid port %q", f)
		}
		ports = append(ports, uint16(n))
	}
	return ports, nil
}

// ScopeFault drops the test-only fault when it targets another proxy version.
func (c *Config) ScopeFault(version string) {
	if c.FaultProxyVersion != "" && c.FaultProxyVersion != version {
		c.FaultFailureRate = 0
	}
}

// parseAppProbes reads the injector's rewritten probes. The admin port
// performs them for anyone who asks (the kubelet), so each must be a probe
// of this pod's app: an admin path under AppProbePathPrefix, an HTTP(S)
// scheme, and a port that is not the proxy's own.
func parseAppProbes(raw string) (map[string]contract.AppProbe, error) {
	var probes map[string]contract.AppProbe
	if err := json.Unmarshal([]byte(raw), &probes); err != nil {
		return nil, err
	}
	proxyPorts := []int32{contract.ProxyInboundPort, contract.ProxyOutboundPort, contract.ProxyAdminPort}
	for path, p := range probes {
		switch {
		case !strings.HasPrefix(path, contract.AppProbePathPrefix) || len(path) == len(contract.AppProbePathPrefix):
			return nil, fmt.Errorf("probe path %q is not under %s", path, contract.AppProbePathPrefix)
		case p.Port < 1 || p.Port > 65535 || slices.Contains(proxyPorts, p.Port):
			return nil, fmt.Errorf("probe %s: port %d is not an app port", path, p.Port)
		case p.Scheme != "" && !strings.EqualFold(p.Scheme, "HTTP") && !strings.EqualFold(p.Scheme, "HTTPS"):
			return nil, fmt.Errorf("probe %s: scheme %q: want HTTP or HTTPS", path, p.Scheme)
		}
	}
	return probes, nil
}
