package upgrade

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/derived"
)

// Cluster is what one pass read of the workloads' side of the cluster, once,
// for every phase (lifecycle gathers it). Its objects are the informer
// cache's own, not copies (the pods are pointers into its store): they are
// read-only, and a filter must build a new slice rather than edit one in place.
type Cluster struct {
	Pods        []*corev1.Pod
	ReplicaSets []*appsv1.ReplicaSet
	PDBs        []policyv1.PodDisruptionBudget
	// NamespaceLabels are the labels of every namespace by name.
	NamespaceLabels map[string]map[string]string
	// Derived, when set, has observed exactly these objects (lifecycle
	// does): values derived from them alone are taken from it.
	Derived *derived.Memo
}

// MeshedPods returns the pods that run the proxy, in a new slice of the same
// pointers. The proxy version label alone may be a user's copy: only pods
// running the proxy count. Pointers, not copies: copying 5,000 pod structs
// was a seventh of a no-op pass's CPU and a third of its garbage
// (bench-operator profile).
func (c Cluster) MeshedPods() []*corev1.Pod {
	return derived.Get(c.Derived, "meshed-pods", func() []*corev1.Pod {
		out := make([]*corev1.Pod, 0, len(c.Pods))
		for _, p := range c.Pods {
			if dataplane.RunsProxy(p) {
				out = append(out, p)
			}
		}
		// Clipped: the slice may be shared with later passes, so an append
		// must copy it.
		return slices.Clip(out)
	})
}

// labelsOf returns the labels of the workloads' namespaces (a namespace that
// is gone has none).
func (c Cluster) labelsOf(workloads []Workload) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, w := range workloads {
		if l, ok := c.NamespaceLabels[w.Namespace]; ok {
			out[w.Namespace] = l
		}
	}
	return out
}

// workloads groups the meshed pods and the unmeshed ones an upgrade must see
// into workloads. Unmeshed pods are read past the cache (Runner.unmeshedPods),
// not observed by Derived, so only a pass without any is remembered.
func (c Cluster) workloads(meshed, unmeshed []*corev1.Pod, planned []string) []Workload {
	if len(unmeshed) > 0 {
		return meshedWorkloads(append(meshed, unmeshed...), c.ReplicaSets, planned)
	}
	return derived.Get(c.Derived, "workloads\x00"+strings.Join(planned, "\x00"), func() []Workload {
		return meshedWorkloads(meshed, c.ReplicaSets, planned)
	})
}
