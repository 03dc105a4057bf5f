// Package cniplugin is meshkeeper's chained CNI plugin (cmd/meshkeeper-cni):
// the container runtime runs it on the node after the network plugin, and at
// ADD it installs proxy-init's redirect plan (proxy/netinit, one
// implementation for IPv4 and IPv6) in the pod's network namespace, so meshed
// pods need no privileged init container.
//
// How it knows a pod is meshed: the runtime passes the pod's annotations in
// runtimeConfig under the "io.kubernetes.cri.pod-annotations" capability
// (containerd since 1.5, CRI-O), and the injector writes
// contract.CNIRedirectAnnotation on the pods it meshes in CNI mode. So the
// plugin reads nothing from the API server: no credentials on the node, no
// cluster-wide pod reads, and pod start does not depend on the API server
// being reachable from the node (istio-cni and linkerd-cni read the pod with
// a token instead). A runtime without the capability gives no annotations:
// the plugin then leaves every pod alone, and the sidecar's startup check
// is what refuses to run a meshed pod without its rules.
package cniplugin

import (
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// PodAnnotationsCapability is the runtimeConfig key under which the runtime
// passes the pod's annotations, when the plugin's conflist entry declares it
// in "capabilities".
const PodAnnotationsCapability = "io.kubernetes.cri.pod-annotations"

// NetConf is the plugin's entry in the node's conflist, as the runtime
// passes it on stdin.
type NetConf struct {
	types.NetConf
	RuntimeConfig struct {
		PodAnnotations map[string]string `json:"io.kubernetes.cri.pod-annotations,omitempty"`
	} `json:"runtimeConfig"`
}

// ParseConf decodes stdin. needPrev is set for ADD and CHECK: the plugin is
// only ever chained, and a missing prevResult means the conflist is wrong.
func ParseConf(stdin []byte, needPrev bool) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, fmt.Errorf("decode the network configuration: %w", err)
	}
	if conf.CNIVersion == "" {
		return nil, fmt.Errorf("network configuration %q has no cniVersion", conf.Name)
	}
	if conf.RawPrevResult == nil {
		if needPrev {
			return nil, fmt.Errorf("network configuration %q has no prevResult: meshkeeper-cni must be chained after the network plugin in a conflist", conf.Name)
		}
		return conf, nil
	}
	if err := version.ParsePrevResult(&conf.NetConf); err != nil {
		return nil, fmt.Errorf("decode prevResult: %w", err)
	}
	return conf, nil
}
