package lifecycle

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/cninode"
	"github.com/meshkeeper/meshkeeper/internal/operator/conditions"
)

// observeCNIPlugin reports the CNI plugin's readiness per node while the
// control plane redirects with CNI (mode: the upgrade machine's), and feeds a node without it into
// ControlPlaneReady; in InitContainer mode it clears the report. It reads the
// cache only: the DaemonSet is watched (Owns), and the plugin pods are among
// the cached pods of the pass.
func (r *Reconciler) observeCNIPlugin(ctx context.Context, mi *meshv1.MeshInstallation, mode meshv1.RedirectMode,
	pods []*corev1.Pod, obs *conditions.Observation) error {
	if mode != meshv1.RedirectCNI {
		mi.Status.CNIPlugin = nil
		return nil
	}
	ds, err := cninode.DaemonSet(ctx, r.Client, mi.Spec.ControlPlane.Namespace, mi.Name)
	if err != nil {
		return err
	}
	rd := cninode.Observe(ds, pods)
	names := rd.NotReady[:min(len(rd.NotReady), meshv1.MaxCNINodeNames)]
	mi.Status.CNIPlugin = &meshv1.CNIPluginStatus{DesiredNodes: rd.DesiredNodes, ReadyNodes: rd.ReadyNodes,
		UpdatedNodes: rd.UpdatedNodes, NotReadyNodes: int32(len(rd.NotReady)), NotReadyNodeNames: names}
	if ok, why := rd.Ready(meshv1.MaxCNINodeNames); !ok {
		obs.CNIPluginNotReady = why
	}
	return nil
}

// withRedirect returns mi with the control plane's redirect mode in its spec
// (mi itself when it is the spec's already), for rendering the release.
func withRedirect(mi *meshv1.MeshInstallation, mode meshv1.RedirectMode) *meshv1.MeshInstallation {
	if mode == "" || mi.Spec.DataPlane.Redirect == mode {
		return mi
	}
	c := *mi // shallow: only the copy's redirect string changes
	c.Spec.DataPlane.Redirect = mode
	return &c
}
