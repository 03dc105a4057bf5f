package contract

import "time"

// Container names the injector adds to a meshed pod; the operator and the
// discovery service recognise meshed pods by them.
const (
	ProxyContainerName     = "meshkeeper-proxy"
	ProxyInitContainerName = "meshkeeper-init"
	// RedirectCheckContainerName is, in CNI mode, the unprivileged init
	// container that runs before the proxy and fails the pod when the node's
	// CNI plugin did not install its redirect rules.
	RedirectCheckContainerName = "meshkeeper-check"
)

// How a meshed pod's redirect rules are installed.
const (
	// RedirectInitContainer: proxy-init, a root init container with NET_ADMIN
	// and NET_RAW (Pod Security "privileged").
	RedirectInitContainer = "InitContainer"
	// RedirectCNI: the node's chained CNI plugin (cmd/meshkeeper-cni) at pod
	// network setup; the pod has no privileged container.
	RedirectCNI = "CNI"
)

// RedirectCheckUID is the user of the redirect check. It must not be
// ProxyUID: the proxy's own connections are never redirected, so a check
// run as the proxy would always fail.
const RedirectCheckUID = 2103

// DiscoveryKeepAlive is how often the discovery stream writes a bare newline
// when nothing changed. Clients skip blank lines (encoding/json.Decoder does)
// and may treat several silent intervals as a dead stream.
const DiscoveryKeepAlive = 15 * time.Second

// ResolveMTLSMode applies the mTLS precedence shared by the injector and the
// discovery service: pod annotation, then namespace annotation, then the
// installation default. Values other than MTLSPermissive or MTLSStrict are
// ignored at each level.
func ResolveMTLSMode(podAnnotations, namespaceAnnotations map[string]string, defaultMode string) string {
	for _, annotations := range []map[string]string{podAnnotations, namespaceAnnotations} {
		if mode := annotations[MTLSModeKey]; mode == MTLSPermissive || mode == MTLSStrict {
			return mode
		}
	}
	return defaultMode
}
