package cninode

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
)

// Readiness is the plugin's standing over the cluster's nodes.
type Readiness struct {
	// Found: the DaemonSet exists; Observed: its controller reported a status.
	Found, Observed bool
	// DesiredNodes, UpdatedNodes: the DaemonSet's desired and updated
	// scheduled counts; ReadyNodes: nodes with a ready plugin pod.
	DesiredNodes, ReadyNodes, UpdatedNodes int32
	// NotReady names every node known to lack a ready plugin, sorted: its
	// plugin pod is not ready, or it runs CNI-meshed pods and has no ready
	// plugin pod. Meshed lists the latter (sorted), the nodes where a meshed
	// pod restarting now would fail its redirect check.
	NotReady, Meshed []string
}

// Observe judges the plugin from its DaemonSet (nil when missing), and the
// cluster's pods: the plugin pods are those the DaemonSet controls (by its
// UID: the chart labels the DaemonSet, not its pods, with the installation),
// and the CNI-meshed pods those running the proxy with the injector's CNI
// redirect annotation.
func Observe(ds *appsv1.DaemonSet, pods []*corev1.Pod) Readiness {
	var r Readiness
	if ds != nil {
		r.Found, r.Observed = true, ds.Status.ObservedGeneration > 0
		r.DesiredNodes, r.UpdatedNodes = ds.Status.DesiredNumberScheduled, ds.Status.UpdatedNumberScheduled
	}
	ready, notReady, meshedNodes := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || !live(p) {
			continue
		}
		switch {
		case ds != nil && pluginPod(p, ds):
			if podReady(p) {
				ready[p.Spec.NodeName] = true
			} else {
				notReady[p.Spec.NodeName] = true
			}
		case p.Annotations[contract.CNIRedirectAnnotation] != "" && dataplane.RunsProxy(p):
			meshedNodes[p.Spec.NodeName] = true
		}
	}
	r.ReadyNodes = int32(len(ready))
	for node := range notReady {
		if !ready[node] { // a node whose old pod is replaced by a ready new one is ready
			r.NotReady = append(r.NotReady, node)
		}
	}
	for node := range meshedNodes {
		if !ready[node] {
			r.Meshed = append(r.Meshed, node)
			if !notReady[node] {
				r.NotReady = append(r.NotReady, node)
			}
		}
	}
	sort.Strings(r.NotReady)
	sort.Strings(r.Meshed)
	return r
}

// Ready reports whether every node the DaemonSet targets, and every node
// running CNI-meshed pods, has a ready plugin; otherwise why not, naming at
// most max nodes.
func (r Readiness) Ready(max int) (bool, string) {
	switch {
	case !r.Found:
		return false, fmt.Sprintf("the CNI plugin's DaemonSet %s is missing", contract.CNIDaemonSetName)
	case !r.Observed: // desired 0 would read as ready
		return false, fmt.Sprintf("the CNI plugin's DaemonSet %s has reported no status yet", contract.CNIDaemonSetName)
	case len(r.NotReady) == 0 && r.ReadyNodes >= r.DesiredNodes:
		return true, ""
	}
	msg := fmt.Sprintf("CNI plugin ready on %d/%d nodes", r.ReadyNodes, r.DesiredNodes)
	if len(r.NotReady) > 0 {
		msg += "; not ready on " + Names(r.NotReady, max)
	}
	if len(r.Meshed) > 0 {
		msg += fmt.Sprintf("; %d of them run meshed pods, which fail their redirect check if restarted there", len(r.Meshed))
	}
	return false, msg
}

// Names joins the first max names and says how many more there are.
func Names(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

func pluginPod(p *corev1.Pod, ds *appsv1.DaemonSet) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.UID == ds.UID && p.Namespace == ds.Namespace
}

func live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
