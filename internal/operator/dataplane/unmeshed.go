package dataplane

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
)

// excludedNamespaces are never sent to the injector (the chart's webhook
// namespaceSelector), so their pods are never expected to be meshed.
var excludedNamespaces = []string{metav1.NamespaceSystem, metav1.NamespacePublic, "kube-node-lease"}

// ShouldBeMeshed mirrors the injector's decision (controlplane/inject
// ShouldInject, cross-checked in the tests) for a pod that exists: it is
// meshed by its own annotation or its namespace (label or the installation's
// namespaceSelector, the shared meshns rule), unless it opted out, runs on
// the host network, or lives where the injector is never called. nsLabels
// are the labels of the pod's namespace; selector is nil when unset.
func ShouldBeMeshed(p *corev1.Pod, nsLabels map[string]string, selector labels.Selector, controlPlaneNS string) bool {
	if p.Namespace == controlPlaneNS || p.Spec.HostNetwork {
		return false
	}
	for _, ns := range excludedNamespaces {
		if p.Namespace == ns {
			return false
		}
	}
	switch p.Annotations[contract.InjectKey] {
	case contract.InjectEnabled:
		return true
	case contract.InjectDisabled:
		return false
	}
	return meshns.Meshed(nsLabels, selector)
}

// HasProxy reports whether the injector mutated the pod (any of its marks).
func HasProxy(p *corev1.Pod) bool {
	if _, ok := p.Labels[contract.ProxyVersionLabel]; ok || p.Annotations[contract.InjectedAnnotation] == "true" {
		return true
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

// Unmeshed reports whether a live pod should carry the proxy and does not,
// or carries it without its redirect rules (RedirectMissing): either way it
// needs a new pod. Finished and terminating pods do not count: nothing can
// mesh them now.
func Unmeshed(p *corev1.Pod, nsLabels map[string]string, selector labels.Selector, controlPlaneNS string) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	return (!HasProxy(p) || RedirectMissing(p)) && ShouldBeMeshed(p, nsLabels, selector, controlPlaneNS)
}

// RedirectMissing reports whether a pod meshed in CNI mode found no redirect
// rules in its network namespace: its startup check (the meshkeeper-check
// init container) failed. The rules are only ever installed when the pod's
// sandbox is created (the node's CNI plugin was not ready then), so retrying
// the check cannot help and the app never starts: only a new pod, set up by
// a plugin that is there, is meshed.
func RedirectMissing(p *corev1.Pod) bool {
	if p.Annotations[contract.CNIRedirectAnnotation] == "" {
		return false
	}
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name != contract.RedirectCheckContainerName {
			continue
		}
		if st.Ready {
			return false // it passed in the end (an init container is ready once it exited 0)
		}
		for _, term := range []*corev1.ContainerStateTerminated{st.State.Terminated, st.LastTerminationState.Terminated} {
			if term != nil && term.ExitCode != 0 {
				return true
			}
		}
	}
	return false
}

// FindUnmeshed returns the unmeshed pods among pods, sorted by namespace and
// name. nsLabels maps a namespace to its labels (a missing namespace has none).
func FindUnmeshed(pods []*corev1.Pod, nsLabels map[string]map[string]string, selector labels.Selector, controlPlaneNS string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if Unmeshed(p, nsLabels[p.Namespace], selector, controlPlaneNS) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}
