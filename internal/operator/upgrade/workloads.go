package upgrade

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// Workload kinds whose pod template the operator restarts.
const (
	KindDeployment  = workload.KindDeployment
	KindStatefulSet = workload.KindStatefulSet
	KindDaemonSet   = workload.KindDaemonSet
)

// Workload is a meshed Deployment, StatefulSet or DaemonSet and what its pods run.
type Workload struct {
	Kind, Namespace, Name string
	// Pods are the workload's meshed pods (terminating ones included), sorted by name.
	Pods []Pod
	// Desired is the number of pods the workload should run when known (for a
	// Deployment, the replicas of its ReplicaSets); 0 when unknown.
	Desired int32
}

// Pod is one meshed pod of a workload.
type Pod struct {
	Name string
	// ProxyVersion is the injector's contract.ProxyVersionLabel; "" for a pod
	// the injector did not mesh (its webhook failed open when the pod was created).
	ProxyVersion string
	// Ready is the pod's Ready condition (the proxy is a native sidecar, so it counts).
	Ready bool
	// Terminating is set once the pod is being deleted.
	Terminating bool
	// RestartedAt is the pod's contract.RestartedAtAnnotation, inherited from the template.
	RestartedAt string
	Labels      map[string]string
}

// VersionCount is the number of live meshed pods running one proxy version.
type VersionCount struct {
	Version string
	Pods    int
}

// Key is "Kind/namespace/name", the form plans and restarts use.
func (w Workload) Key() string { return workload.Key(w.Kind, w.Namespace, w.Name) }

// Live counts the pods not being deleted.
func (w Workload) Live() int {
	n := 0
	for _, p := range w.Pods {
		if !p.Terminating {
			n++
		}
	}
	return n
}

// Versions counts live meshed pods per proxy version, sorted by version.
func (w Workload) Versions() []VersionCount {
	counts := map[string]int{}
	for _, p := range w.Pods {
		if !p.Terminating && p.ProxyVersion != "" {
			counts[p.ProxyVersion]++
		}
	}
	out := make([]VersionCount, 0, len(counts))
	for v, n := range counts {
		out = append(out, VersionCount{Version: v, Pods: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// Runs reports whether any live pod runs the given proxy version.
func (w Workload) Runs(proxyVersion string) bool {
	for _, p := range w.Pods {
		if !p.Terminating && p.ProxyVersion == proxyVersion {
			return true
		}
	}
	return false
}

// Stamped reports whether any pod carries the restart stamp.
func (w Workload) Stamped(stamp string) bool {
	for _, p := range w.Pods {
		if p.RestartedAt == stamp {
			return true
		}
	}
	return false
}

// Settled reports whether the workload finished rolling onto pods that all
// satisfy ok: no pod terminating, every live pod ready and ok, and as many live
// pods as desired. The string says what is missing.
func (w Workload) Settled(ok func(Pod) bool, want string) (bool, string) {
	live, ready, good, terminating := 0, 0, 0, 0
	for _, p := range w.Pods {
		if p.Terminating {
			terminating++
			continue
		}
		live++
		if p.Ready {
			ready++
		}
		if ok(p) {
			good++
		}
	}
	switch {
	case good < live:
		return false, fmt.Sprintf("%s: %d/%d pods %s", w.Key(), good, live, want)
	case ready < live:
		return false, fmt.Sprintf("%s: %d/%d pods ready", w.Key(), ready, live)
	case terminating > 0:
		return false, fmt.Sprintf("%s: %d old pods terminating", w.Key(), terminating)
	case int32(live) < w.Desired:
		return false, fmt.Sprintf("%s: %d/%d pods created", w.Key(), live, w.Desired)
	}
	return true, ""
}

// MeshedWorkloads groups meshed pods (those carrying contract.ProxyVersionLabel)
// by the workload that controls them: a ReplicaSet's Deployment, a StatefulSet
// or a DaemonSet. Bare pods, Jobs and ReplicaSets without a Deployment are not
// restartable workloads and are left out, as are finished pods. A pod whose
// ReplicaSet is missing from replicaSets is mapped through its
// pod-template-hash. The result is sorted by key.
//
// Pods without the label belong to a workload too (with ProxyVersion "") when
// it has a meshed pod or is listed in planned: a pod created while the
// injector did not answer must hold its workload's upgrade up, not vanish
// from it.
func MeshedWorkloads(pods []corev1.Pod, replicaSets []appsv1.ReplicaSet, planned []string) []Workload {
	rsOwner := map[string]string{} // ns/rs → deployment name
	desired := map[string]int32{}  // Deployment key → replicas over its ReplicaSets
	for i := range replicaSets {
		rs := &replicaSets[i]
		ref := metav1.GetControllerOf(rs)
		if ref == nil || ref.Kind != KindDeployment {
			continue
		}
		rsOwner[rs.Namespace+"/"+rs.Name] = ref.Name
		n := int32(1)
		if rs.Spec.Replicas != nil {
			n = *rs.Spec.Replicas
		}
		desired[KindDeployment+"/"+rs.Namespace+"/"+ref.Name] += n
	}
	byKey := map[string]*Workload{}
	meshed := map[string]bool{}
	for _, k := range planned {
		meshed[k] = true
	}
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		kind, name := owner(p, rsOwner)
		if kind == "" {
			continue
		}
		w := Workload{Kind: kind, Namespace: p.Namespace, Name: name}
		if byKey[w.Key()] == nil {
			w.Desired = desired[w.Key()]
			byKey[w.Key()] = &w
		}
		version, ok := p.Labels[contract.ProxyVersionLabel]
		if ok {
			meshed[w.Key()] = true
		}
		byKey[w.Key()].Pods = append(byKey[w.Key()].Pods, Pod{
			Name:         p.Name,
			ProxyVersion: version,
			Ready:        podReady(p),
			Terminating:  p.DeletionTimestamp != nil,
			RestartedAt:  p.Annotations[contract.RestartedAtAnnotation],
			Labels:       p.Labels,
		})
	}
	out := make([]Workload, 0, len(byKey))
	// A planned Deployment whose ReplicaSets still want pods but that has none
	// right now (one pod deleted, its replacement not yet created) is waiting,
	// not gone: counting it done moved a wave to its bake with the replacement
	// unseen, once passes got quick enough to land in that gap.
	for _, key := range planned {
		if kind, ns, name, err := workload.ParseKey(key); err == nil && kind == KindDeployment && byKey[key] == nil && desired[key] > 0 {
			byKey[key] = &Workload{Kind: kind, Namespace: ns, Name: name, Desired: desired[key]}
		}
	}
	for key, w := range byKey {
		if !meshed[key] {
			continue
		}
		sort.Slice(w.Pods, func(i, j int) bool { return w.Pods[i].Name < w.Pods[j].Name })
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// owner returns the restartable workload controlling a pod, or "" for none.
func owner(p *corev1.Pod, rsOwner map[string]string) (kind, name string) {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return "", ""
	}
	switch ref.Kind {
	case KindStatefulSet, KindDaemonSet:
		return ref.Kind, ref.Name
	case "ReplicaSet":
		if d, ok := rsOwner[p.Namespace+"/"+ref.Name]; ok {
			return KindDeployment, d
		}
		// Not in the list (a cache behind): a Deployment's ReplicaSet is named
		// <deployment>-<pod-template-hash>.
		if hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
			return KindDeployment, strings.TrimSuffix(ref.Name, "-"+hash)
		}
	}
	return "", ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Namespaces returns the sorted namespaces of workload keys (for a Prometheus gate).
func Namespaces(workloadKeys []string) []string {
	var out []string
	for _, k := range workloadKeys {
		if _, ns, _, err := workload.ParseKey(k); err == nil && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	sort.Strings(out)
	return out
}
