package upgrade

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/meshkeeper/meshkeeper/internal/operator/cninode"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
)

// rolledOut judges the rollout half of the control-plane gate (the live
// probes are the other): every control-plane Deployment runs its current
// template, available, and in CNI mode so does the CNI plugin's DaemonSet on
// every node. Without the DaemonSet in it, an upgrade would restart
// workloads onto nodes that still run the old plugin, or none.
func rolledOut(deps release.Readiness, cni bool, ds *appsv1.DaemonSet) (bool, string) {
	if deps.Seen == 0 || len(deps.NotReady) > 0 {
		return false, fmt.Sprintf("control-plane Deployments not available: %v", deps.NotReady)
	}
	if !cni {
		return true, ""
	}
	return cninode.RolledOut(ds)
}
