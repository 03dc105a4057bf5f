package contract

import "time"

// Container names the injector adds to a meshed pod; the operator and the
// discovery service recognise meshed pods by them.
const (
	ProxyContainerName     = "meshkeeper-proxy"
	ProxyInitContainerName = "meshkeeper-init"
)

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
