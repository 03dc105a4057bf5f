package rotation

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// Proxy is what one meshed proxy reported (or failed to report).
type Proxy struct {
	Pod      string // namespace/name
	Workload string // kind/namespace/name of the workload to restart, "" if none
	Anchors  []string
	Issuer   string
	Err      error
	// Excluded: the pod carries contract.RotationExcludeAnnotation; it is
	// reported but never waited for (and not read).
	Excluded bool
}

// Facts is everything a rotation step depends on.
type Facts struct {
	Now time.Time
	// ActiveAnchor signs the issuer at the start of the rotation; NextAnchor is
	// the pending new anchor ("" before it exists).
	ActiveAnchor, NextAnchor string
	// Target is the new anchor recorded in status when the rotation started
	// ("" when unknown): it tells a finished rotation from one not yet begun.
	Target string
	// Bundle is the published set of anchor fingerprints.
	Bundle []string
	// IssuerSignedBy is the fingerprint of the anchor that signed the current
	// issuer, and Issuer the current issuer's own fingerprint.
	IssuerSignedBy, Issuer string
	Proxies                []Proxy
	// PhaseSince is when the current phase was first observed (from status);
	// zero when unknown.
	PhaseSince time.Time
	// ConvergenceTimeout bounds each wait before laggards are restarted.
	ConvergenceTimeout time.Duration
	// AlreadyRestarted lists workloads restarted in this phase (from status),
	// and LastRestart is when the last of them was (zero when unknown).
	AlreadyRestarted []string
	LastRestart      time.Time
	// RestartWave bounds how many workloads one step restarts.
	RestartWave int
}

// proxies reads every meshed proxy's trust view.
func (r *Runner) proxies(ctx context.Context) ([]Proxy, error) {
	pods, err := r.meshedPods(ctx)
	if err != nil {
		return nil, err
	}
	owners := workload.ReplicaSetOwners(ctx, r.Client)
	var read []corev1.Pod
	out := make([]Proxy, 0, len(pods))
	for i := range pods {
		if dataplane.Excluded(&pods[i]) {
			out = append(out, Proxy{Pod: pods[i].Namespace + "/" + pods[i].Name, Excluded: true})
			continue
		}
		read = append(read, pods[i])
	}
	for i, rep := range r.Proxies.Scrape(ctx, read) {
		out = append(out, Proxy{Pod: rep.Pod.String(), Workload: workload.OwnerKey(&read[i], owners),
			Anchors: rep.Report.TrustAnchors, Issuer: rep.Report.Issuer, Err: rep.Err})
	}
	return out, nil
}

// meshedPods lists running pods that run the proxy (dataplane.RunsProxy: the
// label alone may be a user's copy); pods still starting or going away are
// not asked (their proxy reads the current bundle when it starts).
func (r *Runner) meshedPods(ctx context.Context) ([]corev1.Pod, error) {
	var list corev1.PodList
	// Read-only: no copy of the cached pods (the filter below copies the structs).
	if err := r.Client.List(ctx, &list, client.HasLabels{contract.ProxyVersionLabel}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if dataplane.RunsProxy(&p) && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out = append(out, p)
		}
	}
	return out, nil
}
