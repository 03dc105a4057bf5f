package contract

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment the injector sets on the proxy container; the proxy reads its
// whole configuration from these.
const (
	EnvIdentityAddr     = "MESHKEEPER_IDENTITY_ADDR"  // host:port of the identity service
	EnvDiscoveryAddr    = "MESHKEEPER_DISCOVERY_ADDR" // host:port of the discovery service
	EnvTrustDomain      = "MESHKEEPER_TRUST_DOMAIN"
	EnvTrustRootsPath   = "MESHKEEPER_TRUST_ROOTS_PATH" // file with the PEM bundle (mounted ConfigMap)
	EnvTokenPath        = "MESHKEEPER_TOKEN_PATH"       // projected ServiceAccount token file
	EnvPodName          = "MESHKEEPER_POD_NAME"
	EnvPodNamespace     = "MESHKEEPER_POD_NAMESPACE"
	EnvPodIP            = "MESHKEEPER_POD_IP"
	EnvServiceAccount   = "MESHKEEPER_SERVICE_ACCOUNT"
	EnvMTLSMode         = "MESHKEEPER_MTLS_MODE" // MTLSPermissive or MTLSStrict
	EnvLogLevel         = "MESHKEEPER_LOG_LEVEL"
	EnvSkipInboundPorts = "MESHKEEPER_SKIP_INBOUND_PORTS" // comma-separated
	// EnvProxyCores is how many cores' worth of Go code the proxy runs at once
	// (GOMAXPROCS), DefaultProxyCores when unset.
	EnvProxyCores = "MESHKEEPER_PROXY_CORES"
	// EnvFaultFailureRate is a test-only fault: the share (0..1) of inbound HTTP
	// requests the proxy answers with 503 itself. Unset or 0 in production.
	EnvFaultFailureRate = "MESHKEEPER_FAULT_FAILURE_RATE"
	// EnvFaultProxyVersion limits that fault to proxies of one version, so a
	// test can make one mesh release faulty and watch an upgrade to it roll back.
	EnvFaultProxyVersion = "MESHKEEPER_FAULT_PROXY_VERSION"
)

// DefaultProxyCores is one, as Linkerd's proxy: a sidecar is latency-bound,
// and on one P the Go scheduler never wakes a second thread to spin for work
// or steal it. At 2000 RPS the proxy uses under a tenth of a core.
// MaxProxyCores bounds the setting.
const (
	DefaultProxyCores = 1
	MaxProxyCores     = 64
)

// Paths inside a meshed pod where the injector mounts trust material.
const (
	TrustRootsMountDir = "/var/run/meshkeeper/trust"
	TokenMountDir      = "/var/run/secrets/meshkeeper"
	TokenFile          = "token"
)

// Kubelet probes in strict mode. Plaintext probes to an app port would be
// refused by a strict proxy, so the injector rewrites each HTTP probe of an
// app container to the proxy's admin port at AppProbePathPrefix +
// "<container>/<readiness|liveness|startup>", and the proxy performs the
// original probe against the app (as Istio does).
const (
	// EnvAppProbes is a JSON object: rewritten admin path -> AppProbe.
	EnvAppProbes       = "MESHKEEPER_APP_PROBES"
	AppProbePathPrefix = "/app-health/"
)

// AppProbe is an app container's original HTTP probe.
type AppProbe struct {
	Port   int32  `json:"port"`
	Path   string `json:"path"`
	Scheme string `json:"scheme,omitempty"` // HTTP (default) or HTTPS
}

// ParseProxyCores reads a proxy core count (EnvProxyCores,
// ProxyCoresAnnotation): an integer from 1 to MaxProxyCores.
func ParseProxyCores(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxProxyCores {
		return DefaultProxyCores, fmt.Errorf("%q: want an integer from 1 to %d", s, MaxProxyCores)
	}
	return n, nil
}
