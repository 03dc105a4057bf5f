// Package versions is the one table of mesh releases the operator ships: for each
// mesh version, the embedded chart that installs it and the image tags it runs.
package versions

import (
	"fmt"
	"strings"
)

// DefaultRegistry prefixes image names; the local cluster imports images under it.
const DefaultRegistry = "ghcr.io/meshkeeper"

// Release is one mesh version the operator can install.
type Release struct {
	// Version is the mesh version users put in spec.version.
	Version string
	// Chart is the chart's directory in the embedded chart tree.
	Chart string
	// ProxyVersion is the version the proxy reports in its build-info metric.
	ProxyVersion string
	// ControlPlaneTag and ProxyTag are the image tags of this release.
	ControlPlaneTag string
	ProxyTag        string
	// CNIPlugin: the release ships the chained CNI plugin and its injector
	// takes --redirect=CNI, so spec.dataPlane.redirect CNI can work.
	CNIPlugin bool
}

// Images returns the fully qualified control-plane, proxy and proxy-init images.
func (r Release) Images(registry string) (controlPlane, proxy, proxyInit string) {
	if registry == "" {
		registry = DefaultRegistry
	}
	registry = strings.TrimSuffix(registry, "/")
	return registry + "/controlplane:" + r.ControlPlaneTag,
		registry + "/proxy:" + r.ProxyTag,
		registry + "/proxy-init:" + r.ProxyTag
}

// CNIImage returns the image of the CNI plugin and its node agent; it is
// tagged like the proxy, so an upgrade or rollback swaps the plugin too.
func (r Release) CNIImage(registry string) string {
	if registry == "" {
		registry = DefaultRegistry
	}
	return strings.TrimSuffix(registry, "/") + "/cni:" + r.ProxyTag
}

// releases is ordered oldest first.
var releases = []Release{
	{Version: "0.1.0", Chart: "0.1.0", ProxyVersion: "0.1.0", ControlPlaneTag: "0.1.0", ProxyTag: "0.1.0", CNIPlugin: true},
	// 0.2.0 adds PodDisruptionBudgets for a replicated control plane.
	{Version: "0.2.0", Chart: "0.2.0", ProxyVersion: "0.2.0", ControlPlaneTag: "0.2.0", ProxyTag: "0.2.0", CNIPlugin: true},
}

// Lookup returns the release of a mesh version.
func Lookup(version string) (Release, error) {
	for _, r := range releases {
		if r.Version == version {
			return r, nil
		}
	}
	return Release{}, fmt.Errorf("mesh version %q is not shipped by this operator; supported: %s",
		version, strings.Join(Supported(), ", "))
}

// Supported lists the mesh versions this operator ships, oldest first.
func Supported() []string {
	out := make([]string, 0, len(releases))
	for _, r := range releases {
		out = append(out, r.Version)
	}
	return out
}

// Latest is the newest shipped version.
func Latest() Release { return releases[len(releases)-1] }

// ProxyVersions maps every shipped mesh version to its proxy version.
func ProxyVersions() map[string]string {
	out := make(map[string]string, len(releases))
	for _, r := range releases {
		out[r.Version] = r.ProxyVersion
	}
	return out
}
