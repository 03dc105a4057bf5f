package inject

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
)

// Reasons a pod is or is not injected, for logs and metrics.
const (
	ReasonPodEnabled        = "pod annotation enabled"
	ReasonNamespaceEnabled  = "namespace label enabled"
	ReasonNamespaceSelected = "namespace selected by spec.dataPlane.namespaceSelector"
	ReasonPodDisabled       = "pod annotation disabled"
	ReasonNotOptedIn        = "not opted in"
	ReasonExcludedNamespace = "excluded namespace"
	ReasonHostNetwork       = "host network"
	ReasonAlreadyInjected   = "already injected"
)

// IsInjected reports whether pod already carries the proxy. The discovery
// service uses the same test to tell meshed pods apart.
func IsInjected(pod *corev1.Pod) bool {
	if pod.Annotations[contract.InjectedAnnotation] == "true" {
		return true
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == contract.ProxyContainerName {
				return true
			}
		}
	}
	return false
}

// ShouldInject decides whether pod, created in namespace ns, gets the proxy.
// Exclusions come first, then the pod annotation, then the namespace: its
// label, or the installation's namespace selector (nil when unset).
func ShouldInject(pod *corev1.Pod, ns *corev1.Namespace, controlPlaneNamespace string, selector labels.Selector) (bool, string) {
	switch {
	case ns.Name == metav1.NamespaceSystem || ns.Name == controlPlaneNamespace:
		return false, ReasonExcludedNamespace
	case pod.Spec.HostNetwork:
		return false, ReasonHostNetwork
	case IsInjected(pod):
		return false, ReasonAlreadyInjected
	}
	switch pod.Annotations[contract.InjectKey] {
	case contract.InjectEnabled:
		return true, ReasonPodEnabled
	case contract.InjectDisabled:
		return false, ReasonPodDisabled
	}
	if ns.Labels[contract.InjectKey] == contract.InjectEnabled {
		return true, ReasonNamespaceEnabled
	}
	if meshns.Meshed(ns.Labels, selector) {
		return true, ReasonNamespaceSelected
	}
	return false, ReasonNotOptedIn
}
