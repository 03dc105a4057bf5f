package upgrade

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
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
	// Redirect is how the pod's redirect rules were installed (PodRedirect).
	Redirect meshv1.RedirectMode
	Labels   map[string]string
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

// PodRedirect tells how a meshed pod's redirect rules were installed, from
// what the injector gave it: CNI mode's annotation for the node's plugin, or
// the proxy-init container; "" for neither (not meshed).
func PodRedirect(p *corev1.Pod) meshv1.RedirectMode {
	if p.Annotations[contract.CNIRedirectAnnotation] != "" {
		return meshv1.RedirectCNI
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == contract.ProxyInitContainerName {
			return meshv1.RedirectInitContainer
		}
	}
	return ""
}

// RunsRedirect reports whether any live pod runs in the given redirect mode.
func (w Workload) RunsRedirect(mode meshv1.RedirectMode) bool {
	for _, p := range w.Pods {
		if !p.Terminating && p.Redirect == mode {
			return true
		}
	}
	return false
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
	ptrs := make([]*corev1.Pod, len(pods))
	for i := range pods {
		ptrs[i] = &pods[i]
	}
	rss := make([]*appsv1.ReplicaSet, len(replicaSets))
	for i := range replicaSets {
		rss[i] = &replicaSets[i]
	}
	return meshedWorkloads(ptrs, rss, planned)
}

// ref names an object in a namespace; as a map key it costs no string
// building. Every pass groups all 5,000 pods of bench-operator's large point:
// keys concatenated per pod, owner references copied and sort.Slice were half
// of a no-op pass's upgrade step (profile), so this loop builds a key string
// once per workload, not per pod.
type ref struct{ kind, namespace, name string }

func (r ref) key() string { return workload.Key(r.kind, r.namespace, r.name) }

// meshedWorkloads is MeshedWorkloads over pointers into the pass's pods.
func meshedWorkloads(pods []*corev1.Pod, replicaSets []*appsv1.ReplicaSet, planned []string) []Workload {
	rsOwner := make(map[ref]string, len(replicaSets)) // ReplicaSet → Deployment name
	desired := map[ref]int32{}                        // Deployment → replicas over its ReplicaSets
	for _, rs := range replicaSets {
		owner := metav1.GetControllerOfNoCopy(rs)
		if owner == nil || owner.Kind != KindDeployment {
			continue
		}
		rsOwner[ref{"ReplicaSet", rs.Namespace, rs.Name}] = owner.Name
		n := int32(1)
		if rs.Spec.Replicas != nil {
			n = *rs.Spec.Replicas
		}
		desired[ref{KindDeployment, rs.Namespace, owner.Name}] += n
	}
	byRef := map[ref]*Workload{}
	meshed := map[ref]bool{}
	plannedRefs := make([]ref, 0, len(planned))
	for _, k := range planned {
		if kind, ns, name, err := workload.ParseKey(k); err == nil {
			r := ref{kind, ns, name}
			meshed[r] = true
			plannedRefs = append(plannedRefs, r)
		}
	}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		kind, name := owner(p, rsOwner)
		if kind == "" {
			continue
		}
		r := ref{kind, p.Namespace, name}
		w := byRef[r]
		if w == nil {
			w = &Workload{Kind: kind, Namespace: p.Namespace, Name: name, Desired: desired[r]}
			byRef[r] = w
		}
		version, ok := p.Labels[contract.ProxyVersionLabel]
		if ok {
			meshed[r] = true
		}
		w.Pods = append(w.Pods, Pod{
			Name:         p.Name,
			ProxyVersion: version,
			Ready:        podReady(p),
			Terminating:  p.DeletionTimestamp != nil,
			RestartedAt:  p.Annotations[contract.RestartedAtAnnotation],
			Redirect:     PodRedirect(p),
			Labels:       p.Labels,
		})
	}
	// A planned Deployment whose ReplicaSets still want pods but that has none
	// right now (one pod deleted, its replacement not yet created) is waiting,
	// not gone: counting it done moved a wave to its bake with the replacement
	// unseen, once passes got quick enough to land in that gap.
	for _, r := range plannedRefs {
		if r.kind == KindDeployment && byRef[r] == nil && desired[r] > 0 {
			byRef[r] = &Workload{Kind: r.kind, Namespace: r.namespace, Name: r.name, Desired: desired[r]}
		}
	}
	type keyed struct {
		key string
		w   *Workload
	}
	sorted := make([]keyed, 0, len(byRef))
	for r, w := range byRef {
		if !meshed[r] {
			continue
		}
		slices.SortFunc(w.Pods, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
		sorted = append(sorted, keyed{r.key(), w})
	}
	slices.SortFunc(sorted, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	out := make([]Workload, len(sorted))
	for i, k := range sorted {
		out[i] = *k.w
	}
	return out
}

// owner returns the restartable workload controlling a pod, or "" for none.
func owner(p *corev1.Pod, rsOwner map[ref]string) (kind, name string) {
	ctl := metav1.GetControllerOfNoCopy(p)
	if ctl == nil {
		return "", ""
	}
	switch ctl.Kind {
	case KindStatefulSet, KindDaemonSet:
		return ctl.Kind, ctl.Name
	case "ReplicaSet":
		if d, ok := rsOwner[ref{"ReplicaSet", p.Namespace, ctl.Name}]; ok {
			return KindDeployment, d
		}
		// Not in the list (a cache behind): a Deployment's ReplicaSet is named
		// <deployment>-<pod-template-hash>.
		if hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" && strings.HasSuffix(ctl.Name, "-"+hash) {
			return KindDeployment, strings.TrimSuffix(ctl.Name, "-"+hash)
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
