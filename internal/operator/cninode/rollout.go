package cninode

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// RolledOut reports whether the DaemonSet's current template runs, available,
// on every node it targets (what `kubectl rollout status daemonset` waits
// for), and otherwise why not. A status the controller has not computed for
// the current generation proves nothing: a Helm upgrade that just changed the
// template still shows the old, complete rollout.
func RolledOut(ds *appsv1.DaemonSet) (bool, string) {
	if ds == nil {
		return false, fmt.Sprintf("the CNI plugin's DaemonSet %s is missing", contract.CNIDaemonSetName)
	}
	st := ds.Status
	switch {
	case st.ObservedGeneration < ds.Generation:
		return false, fmt.Sprintf("CNI plugin DaemonSet generation %d not observed yet (at %d)", ds.Generation, st.ObservedGeneration)
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("CNI plugin updated on %d/%d nodes", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("CNI plugin available on %d/%d nodes", st.NumberAvailable, st.DesiredNumberScheduled)
	case st.NumberUnavailable > 0:
		return false, fmt.Sprintf("CNI plugin unavailable on %d nodes", st.NumberUnavailable)
	}
	return true, ""
}
