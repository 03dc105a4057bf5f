package dataplane

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// PodChangeMatters reports whether a pod update can change a decision of the
// operator: the data-plane counts (proxy readiness and version), the
// unmeshed-pod rule (the marks of the injector, the inject annotation,
// labels, a failed CNI-mode redirect check), the rotation and upgrade waits
// (phase, IP, owner, exclusion, deletion). Status churn nothing reads — other containers' restarts, probe
// timestamps, condition messages — starts no pass. Pure, for the watch's
// predicate.
func PodChangeMatters(before, after *corev1.Pod) bool {
	return ProxyReady(before) != ProxyReady(after) ||
		HasProxy(before) != HasProxy(after) || RunsProxy(before) != RunsProxy(after) ||
		RedirectMissing(before) != RedirectMissing(after) ||
		proxyImage(before) != proxyImage(after) ||
		before.Status.Phase != after.Status.Phase || before.Status.PodIP != after.Status.PodIP ||
		(after.DeletionTimestamp != nil) != (before.DeletionTimestamp != nil) ||
		!maps.Equal(before.Labels, after.Labels) ||
		!sameAnnotations(before, after) ||
		!sameController(before, after)
}

// readAnnotations are the pod annotations a decision reads.
var readAnnotations = []string{contract.InjectKey, contract.InjectedAnnotation, contract.RotationExcludeAnnotation}

func sameAnnotations(a, b *corev1.Pod) bool {
	return !slices.ContainsFunc(readAnnotations, func(k string) bool { return a.Annotations[k] != b.Annotations[k] })
}

func sameController(a, b *corev1.Pod) bool {
	ra, rb := metav1.GetControllerOf(a), metav1.GetControllerOf(b)
	if ra == nil || rb == nil {
		return ra == rb
	}
	return ra.UID == rb.UID && ra.Kind == rb.Kind && ra.Name == rb.Name
}

// proxyImage is the image of the proxy container as the kubelet reports it
// ("" when none).
func proxyImage(p *corev1.Pod) string {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, st := range list {
			if st.Name == contract.ProxyContainerName {
				return st.Image
			}
		}
	}
	return ""
}
