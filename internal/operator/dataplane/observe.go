// Package dataplane summarises the meshed pods of a cluster for the
// installation's status: how many there are, which run a proxy of another
// version than the installed mesh, and which proxies are not ready.
package dataplane

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Summary is what the status reports of the data plane.
type Summary struct {
	MeshedPods      int32
	OutdatedProxies int32
	NotReadyProxies int32
	// Versions counts pods per proxy version, sorted by version.
	Versions []VersionCount
}

// VersionCount is the number of meshed pods running one proxy version.
type VersionCount struct {
	Version string
	Pods    int32
}

// Summarize counts the meshed pods among pods. A pod is meshed when it runs
// the proxy the injector added (RunsProxy); pods that have finished or are being
// deleted are not counted.
func Summarize(pods []*corev1.Pod, installedProxyVersion string) Summary {
	var s Summary
	versions := map[string]int32{}
	for _, p := range pods {
		version := p.Labels[contract.ProxyVersionLabel]
		if !RunsProxy(p) || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		s.MeshedPods++
		versions[version]++
		if version != installedProxyVersion {
			s.OutdatedProxies++
		}
		if !ProxyReady(p) {
			s.NotReadyProxies++
		}
	}
	for v, n := range versions {
		s.Versions = append(s.Versions, VersionCount{Version: v, Pods: n})
	}
	sort.Slice(s.Versions, func(i, j int) bool { return s.Versions[i].Version < s.Versions[j].Version })
	return s
}

// ProxyReady reports whether the pod's proxy sidecar reports ready. The proxy
// is a native sidecar, so its status is among the init container statuses.
func ProxyReady(p *corev1.Pod) bool {
	// Two loops, not an append: the pod may be the informer's shared object,
	// and appending to its slice would write into the cache's spare capacity.
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, st := range list {
			if st.Name == contract.ProxyContainerName {
				return st.Ready
			}
		}
	}
	return false
}
