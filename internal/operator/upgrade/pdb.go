package upgrade

import (
	"fmt"
	"slices"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

// RestartAllowed reports whether a workload may be restarted now: every
// PodDisruptionBudget in its namespace that selects one of its pods must allow
// a disruption (status.disruptionsAllowed > 0, from a status that observed the
// PDB's current generation). The string names the blocking PDB and why. PDBs
// are checked in the given order; pass them sorted for a stable message.
func RestartAllowed(w Workload, pdbs []policyv1.PodDisruptionBudget) (bool, string) {
	for i := range pdbs {
		pdb := &pdbs[i]
		if pdb.Namespace != w.Namespace || !selectsAny(pdb, w.Pods) {
			continue
		}
		switch {
		case pdb.Status.ObservedGeneration < pdb.Generation:
			return false, fmt.Sprintf("PodDisruptionBudget %s/%s has not observed its latest spec yet", pdb.Namespace, pdb.Name)
		case pdb.Status.DisruptionsAllowed <= 0:
			return false, fmt.Sprintf("PodDisruptionBudget %s/%s allows no disruption (%d/%d pods healthy, %d required)",
				pdb.Namespace, pdb.Name, pdb.Status.CurrentHealthy, pdb.Status.ExpectedPods, pdb.Status.DesiredHealthy)
		}
	}
	return true, ""
}

// selectsAny follows policy/v1: a nil selector selects nothing, an empty one every pod.
func selectsAny(pdb *policyv1.PodDisruptionBudget, pods []Pod) bool {
	if pdb.Spec.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return false // the API server rejects invalid selectors; such a PDB guards nothing
	}
	for _, p := range pods {
		if !p.Terminating && sel.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// Batch picks the next workloads of a wave to restart: those not yet in
// wave.Restarted, in plan order, as many as maxUnavailable (at least 1) leaves
// beside the inFlight restarts that have not settled yet.
func Batch(wave meshv1.PlannedWave, maxUnavailable int, inFlight int) []string {
	slots := max(1, maxUnavailable) - inFlight
	var out []string
	for _, key := range wave.Workloads {
		if len(out) >= slots {
			break
		}
		if !slices.Contains(wave.Restarted, key) && !slices.Contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}
