package lifecycle

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/conditions"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/derived"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// cluster is what one pass reads of the workloads' side of the cluster,
// once, for every phase. The lists come from the informer cache without
// copies: at 5,000 pods, copying the pods several times per pass was most of
// a no-op pass's time and garbage (bench-operator); even the one copy a List
// makes into PodList.Items was a tenth of the pass's CPU, so the pods are
// pointers into the cache (Reconciler.Pods). Everything downstream only
// reads them.
type cluster struct {
	upgrade.Cluster
	Namespaces []corev1.Namespace
}

func (r *Reconciler) observeCluster(ctx context.Context) (cluster, error) {
	pods, err := r.listPods(ctx)
	if err != nil {
		return cluster{}, err
	}
	var nss corev1.NamespaceList
	if err := r.Client.List(ctx, &nss, client.UnsafeDisableDeepCopy); err != nil {
		return cluster{}, err
	}
	rss, err := r.listReplicaSets(ctx)
	if err != nil {
		return cluster{}, err
	}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := r.Client.List(ctx, &pdbs, client.UnsafeDisableDeepCopy); err != nil {
		return cluster{}, err
	}
	nsLabels := make(map[string]map[string]string, len(nss.Items))
	for _, ns := range nss.Items {
		nsLabels[ns.Name] = ns.Labels
	}
	cl := cluster{Namespaces: nss.Items, Cluster: upgrade.Cluster{
		Pods: pods, ReplicaSets: rss, PDBs: pdbs.Items, NamespaceLabels: nsLabels, Derived: r.Derived}}
	r.Derived.Observe(cl.objects())
	return cl, nil
}

// objects yields the uid and resourceVersion of every object the derived
// values (upgrade.Cluster.Derived) are computed from.
func (c cluster) objects() iter.Seq2[types.UID, string] {
	return func(yield func(types.UID, string) bool) {
		for _, p := range c.Pods {
			if !yield(p.UID, p.ResourceVersion) {
				return
			}
		}
		for _, rs := range c.ReplicaSets {
			if !yield(rs.UID, rs.ResourceVersion) {
				return
			}
		}
		for i := range c.Namespaces {
			if !yield(c.Namespaces[i].UID, c.Namespaces[i].ResourceVersion) {
				return
			}
		}
	}
}

func (r *Reconciler) listPods(ctx context.Context) ([]*corev1.Pod, error) {
	if r.Pods != nil {
		return r.Pods(ctx)
	}
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return pointersTo(list.Items), nil
}

func (r *Reconciler) listReplicaSets(ctx context.Context) ([]*appsv1.ReplicaSet, error) {
	if r.ReplicaSets != nil {
		return r.ReplicaSets(ctx)
	}
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return pointersTo(list.Items), nil
}

// pointersTo points at each item of a list (read-only, like the cache's own).
func pointersTo[E any](items []E) []*E {
	out := make([]*E, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// unmeshedCheck is what the unmeshed-pod phase needs to know besides the pods.
type unmeshedCheck struct {
	InjectorAnswers bool
	UpgradeRunning  bool
}

// reconcileUnmeshed reports the pods that should carry the proxy and don't,
// and with spec.dataPlane.unmeshedPods=Restart restarts their workloads
// (bare pods are only reported). It returns when to look again (0: no opinion).
func (r *Reconciler) reconcileUnmeshed(ctx context.Context, mi *meshv1.MeshInstallation, cl cluster, chk unmeshedCheck, obs *conditions.Observation) (time.Duration, error) {
	selector, err := namespaceSelector(mi)
	if err != nil {
		return 0, err
	}
	selectorKey := "<none>"
	if selector != nil {
		selectorKey = selector.String()
	}
	pods := derived.Get(cl.Derived, "unmeshed\x00"+selectorKey+"\x00"+mi.Spec.ControlPlane.Namespace, func() []*corev1.Pod {
		return slices.Clip(dataplane.FindUnmeshed(cl.Pods, cl.NamespaceLabels, selector, mi.Spec.ControlPlane.Namespace))
	})
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	shown := names[:min(len(names), meshv1.MaxUnmeshedPodNames)]
	before := mi.Status.DataPlane.UnmeshedPodNames
	mi.Status.DataPlane.UnmeshedPods, mi.Status.DataPlane.UnmeshedPodNames = int32(len(pods)), shown
	obs.DataPlaneObserved, obs.UnmeshedPods = true, int32(len(pods))
	if len(pods) == 0 {
		return 0, nil
	}
	owners := workload.ReplicaSetOwners(ctx, r.Client)
	var keys, bare []string
	byKey := map[string][]upgrade.Pod{}
	for i, p := range pods {
		key := workload.OwnerKey(p, owners)
		if key == "" {
			bare = append(bare, names[i])
			continue
		}
		if _, seen := byKey[key]; !seen {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], upgrade.Pod{Name: p.Name, Labels: p.Labels})
	}
	report := mi.Spec.DataPlane.UnmeshedPods == meshv1.UnmeshedPodsReport
	hold := dataplane.RestartHold(report, chk.InjectorAnswers, chk.UpgradeRunning, mi.Status.Trust.Rotation != nil)
	obs.UnmeshedMessage = unmeshedMessage(len(pods), shown, bare, hold)
	if !slices.Equal(before, shown) {
		r.event(mi, "Warning", meshv1.ReasonUnmeshedPods, "Detect", "%s", obs.UnmeshedMessage)
	}
	if hold != "" || len(keys) == 0 {
		return 0, nil
	}
	decision, err := r.decideRestarts(ctx, keys, byKey, cl.PDBs)
	if err != nil {
		return 0, err
	}
	now := r.Clock.Now()
	for _, key := range decision.Restart {
		if err := workload.Restart(ctx, r.Client, key, now); err != nil {
			return 0, err
		}
	}
	if len(decision.Restart) > 0 {
		r.event(mi, "Normal", "UnmeshedWorkloadsRestarted", "Restart", "Restarted %v so their pods come back with the proxy", decision.Restart)
	}
	if len(decision.Waiting) > 0 {
		obs.UnmeshedMessage += "; waiting: " + strings.Join(decision.Waiting, "; ")
	}
	return decision.RecheckAfter, nil
}

// decideRestarts gathers each workload's last restart (read past the cache)
// and its PodDisruptionBudget verdict, then asks the pure decision.
func (r *Reconciler) decideRestarts(ctx context.Context, keys []string, pods map[string][]upgrade.Pod, pdbs []policyv1.PodDisruptionBudget) (dataplane.RestartDecision, error) {
	facts := make([]dataplane.Workload, 0, len(keys))
	for _, key := range keys {
		last, err := workload.LastRestart(ctx, r.APIReader, key)
		if err != nil {
			if client.IgnoreNotFound(err) == nil {
				continue // the workload is going away with its pods
			}
			return dataplane.RestartDecision{}, err
		}
		_, ns, name, _ := workload.ParseKey(key)
		w := upgrade.Workload{Namespace: ns, Name: name, Pods: pods[key]}
		_, blocked := upgrade.RestartAllowed(w, pdbs)
		facts = append(facts, dataplane.Workload{Key: key, LastRestart: last, Blocked: blocked})
	}
	return dataplane.DecideRestarts(r.Clock.Now(), facts), nil
}

// namespaceSelector is spec.dataPlane.namespaceSelector as a selector (nil when unset).
func namespaceSelector(mi *meshv1.MeshInstallation) (labels.Selector, error) {
	if mi.Spec.DataPlane.NamespaceSelector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(mi.Spec.DataPlane.NamespaceSelector)
	if err != nil {
		return nil, fmt.Errorf("spec.dataPlane.namespaceSelector: %w", err)
	}
	return sel, nil
}

func unmeshedMessage(total int, shown, bare []string, hold string) string {
	msg := fmt.Sprintf("%d pod(s) should carry the proxy and do not (or, in CNI mode, started without its redirect rules): %s", total, strings.Join(shown, ", "))
	if total > len(shown) {
		msg += fmt.Sprintf(" and %d more", total-len(shown))
	}
	if len(bare) > 0 {
		msg += fmt.Sprintf("; pods without a restartable owner (bare, Job) are only reported; delete and recreate them: %s", strings.Join(bare[:min(len(bare), meshv1.MaxUnmeshedPodNames)], ", "))
	}
	if hold != "" {
		msg += "; not restarting: " + hold
	}
	return msg
}
