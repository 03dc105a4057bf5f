package dataplane

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// RunsProxy reports whether the pod really runs the proxy: the injector
// stamps contract.ProxyVersionLabel and adds the proxy container (a native
// sidecar among the init containers). The label alone is not enough — a user
// may have copied it into a template — and a pod without the proxy has no
// admin port to read, so counting it would make rotations and upgrades wait
// on it forever.
func RunsProxy(p *corev1.Pod) bool {
	if _, ok := p.Labels[contract.ProxyVersionLabel]; !ok {
		return false
	}
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range list {
			if c.Name == contract.ProxyContainerName {
				return true
			}
		}
	}
	return false
}

// Excluded reports whether the user asked rotations and upgrade gates not to
// wait for the pod (contract.RotationExcludeAnnotation = "true").
func Excluded(p *corev1.Pod) bool {
	return p.Annotations[contract.RotationExcludeAnnotation] == "true"
}
