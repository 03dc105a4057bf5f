package upgrade

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/cninode"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/probe"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// ReleaseReader reads the control-plane Helm release (release.HelmClient).
type ReleaseReader interface {
	Get(ctx context.Context, namespace, name string) (*helm.Release, error)
}

// Runner is the apply side of the upgrade machine: it gathers Facts from the
// cluster, asks Next, reads a gate when the step asks for one, and carries
// the step's restarts and status out. The lifecycle calls Step before the
// release machine (which version the control plane runs now) and Apply after
// it.
type Runner struct {
	Client client.Client
	// APIReader reads past the cache where a stale cache would pass a gate.
	APIReader client.Reader
	Releases  ReleaseReader
	Proxies   proxymetrics.Reader
	// Probe is the control-plane gate's identity and injector probe.
	Probe    *probe.ControlPlane
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
}

// Step asks the upgrade machine where the installation stands: which version
// the control plane must run now and what to do next. It reads the gate only
// when the machine asks for a reading. cl is the pass's read of the cluster.
func (r *Runner) Step(ctx context.Context, mi *meshv1.MeshInstallation, cl Cluster) (Step, error) {
	meshed := cl.MeshedPods()
	planned := plannedWorkloads(mi.Status.Upgrade)
	probeNS := ""
	if GatesControlPlane(mi.Status.Upgrade) {
		probeNS = probeNamespace(meshed, planned, mi.Spec.ControlPlane.Namespace)
	}
	cp, err := r.controlPlaneFacts(ctx, mi, probeNS)
	if err != nil {
		return Step{}, err
	}
	unmeshed, err := r.unmeshedPods(ctx, meshed, planned)
	if err != nil {
		return Step{}, err
	}
	workloads := cl.workloads(meshed, unmeshed, planned)
	facts := Facts{
		Now: r.Clock.Now(), Spec: mi.Spec, Upgrade: mi.Status.Upgrade, History: mi.Status.UpgradeHistory,
		Supported: versions.Supported(), ProxyVersions: versions.ProxyVersions(), ControlPlane: cp,
		Workloads: workloads, NamespaceLabels: cl.labelsOf(workloads), PDBs: cl.PDBs,
	}
	step := Next(facts)
	if step.NeedReading {
		facts.Reading = r.readGate(ctx, mi, step, meshed)
		step = Next(facts)
	}
	return step, nil
}

// plannedWorkloads lists the workloads of an upgrade's plan while it runs.
func plannedWorkloads(st *meshv1.UpgradeStatus) []string {
	if !InProgress(st) {
		return nil
	}
	var keys []string
	for _, w := range st.Plan {
		keys = append(keys, w.Workloads...)
	}
	return keys
}

// unmeshedPods reads, while an upgrade runs, the pods without a proxy in the
// namespaces of meshed and planned workloads: a pod created while the
// injector failed open carries no proxy, yet the upgrade must see it to
// replace it. The read is uncached, one list per namespace. The pass's
// cached Cluster now holds every pod as well (the informer watches all
// pods), so these pods could come from it; that change waits for an e2e run
// of the upgrade cases.
func (r *Runner) unmeshedPods(ctx context.Context, meshed []*corev1.Pod, planned []string) ([]*corev1.Pod, error) {
	if len(planned) == 0 {
		return nil, nil
	}
	namespaces := Namespaces(planned)
	for _, p := range meshed {
		if !slices.Contains(namespaces, p.Namespace) {
			namespaces = append(namespaces, p.Namespace)
		}
	}
	noProxy, err := labels.Parse("!" + contract.ProxyVersionLabel)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, ns := range namespaces {
		var list corev1.PodList
		if err := r.APIReader.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: noProxy}); err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// probeNamespace picks where the injector is probed during an upgrade: a
// namespace whose workloads the upgrade restarts (their pods are the ones
// the injector must answer for), "" when it restarts none.
func probeNamespace(meshed []*corev1.Pod, planned []string, controlPlane string) string {
	if len(planned) == 0 {
		return ""
	}
	for _, ns := range Namespaces(planned) {
		if ns != controlPlane {
			return ns
		}
	}
	for _, p := range meshed {
		if p.Namespace != controlPlane {
			return p.Namespace
		}
	}
	return ""
}

// controlPlaneFacts observes the control-plane release and Deployments and,
// while the upgrade gates on the control plane (probeNS set), whether
// identity issues and the injector answers admission with its proxy.
func (r *Runner) controlPlaneFacts(ctx context.Context, mi *meshv1.MeshInstallation, probeNS string) (ControlPlane, error) {
	rel, err := r.Releases.Get(ctx, mi.Spec.ControlPlane.Namespace, release.ReleaseName)
	if err != nil || rel == nil {
		return ControlPlane{}, err
	}
	st := mi.Status.ControlPlane
	cp := ControlPlane{Version: mi.Status.InstalledVersion}
	if rel.Status == helm.StatusDeployed {
		cp.Version = rel.ChartVersion
	} else if rel.LastDeployedRevision == 0 {
		cp.Version = ""
	}
	cp.Settled = rel.Status == helm.StatusDeployed && st.FailedDigest == ""
	if cp.Version != "" {
		// Before status.redirect existed every control plane used init containers.
		cp.Redirect = orInitContainer(mi.Status.Redirect)
	}
	if st.FailedDigest != "" && st.Failures >= release.MaxAttempts {
		cp.Failed, cp.Problem = true, fmt.Sprintf("control-plane release failed %d times", st.Failures)
	}
	// Ready is consulted only while the machine gates on the control plane
	// (Next's controlPlaneStep and rollbackStep); any other pass skips the read.
	if !GatesControlPlane(mi.Status.Upgrade) {
		return cp, nil
	}
	// Read past the cache: right after a Helm upgrade or rollback the cache can
	// still hold the previous, fully available Deployments (and CNI plugin
	// DaemonSet), and a gate passed on them would let workloads restart
	// against the old injector (or onto nodes with the old plugin).
	var deps appsv1.DeploymentList
	if err := r.APIReader.List(ctx, &deps, client.InNamespace(mi.Spec.ControlPlane.Namespace),
		client.MatchingLabels{contract.InstallationLabel: mi.Name}); err != nil {
		return cp, err
	}
	var ds *appsv1.DaemonSet
	cni := gatedRedirect(mi) == meshv1.RedirectCNI
	if cni {
		if ds, err = cninode.DaemonSet(ctx, r.APIReader, mi.Spec.ControlPlane.Namespace, mi.Name); err != nil {
			return cp, err
		}
	}
	ready, problem := rolledOut(release.ObserveReadiness(deps.Items), cni, ds)
	cp.Ready = ready
	if !cp.Ready && !cp.Failed {
		cp.Problem = problem
	}
	if cp.Ready && probeNS != "" && r.Probe != nil {
		if err := r.Probe.Probe(ctx, mi, probeNS, versions.ProxyVersions()[cp.Version]); err != nil {
			cp.Ready, cp.Problem = false, err.Error()
		}
	}
	return cp, nil
}

// gatedRedirect is the redirect mode the control-plane gate judges: the one
// the upgrade moves the control plane to (back to, in a rollback).
func gatedRedirect(mi *meshv1.MeshInstallation) meshv1.RedirectMode {
	if st := mi.Status.Upgrade; st != nil && st.RedirectTo != "" {
		if st.Phase == PhaseRollingBack {
			return st.RedirectFrom
		}
		return st.RedirectTo
	}
	return orInitContainer(mi.Spec.DataPlane.Redirect)
}

// readGate reads the gate source over the workloads a step asked about.
func (r *Runner) readGate(ctx context.Context, mi *meshv1.MeshInstallation, step Step, pods []*corev1.Pod) Reading {
	gate := &meshv1.GateSpec{}
	if mi.Spec.Upgrade != nil && mi.Spec.Upgrade.Gate != nil {
		gate = mi.Spec.Upgrade.Gate
	}
	if gate.Source == meshv1.GateSourcePrometheus && gate.Prometheus != nil {
		src, err := NewPrometheusSource(gate.Prometheus, nil)
		if err != nil {
			return Reading{Err: err}
		}
		m, err := src.Measure(ctx, Namespaces(step.ReadScope), step.ReadWindow, r.Clock.Now())
		if err != nil {
			return Reading{Err: err}
		}
		return Reading{Window: &m}
	}
	inScope := map[string]bool{}
	for _, k := range step.ReadScope {
		inScope[k] = true
	}
	owners := workload.ReplicaSetOwners(ctx, r.Client)
	var scoped []corev1.Pod
	for _, p := range pods {
		// An excluded pod (contract.RotationExcludeAnnotation) is not read: its
		// admin port may be blocked, and the gate must not wait on it.
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && !dataplane.Excluded(p) && inScope[workload.OwnerKey(p, owners)] {
			scoped = append(scoped, *p)
		}
	}
	traffic, err := SumReports(r.Proxies.Scrape(ctx, scoped))
	if err != nil {
		return Reading{Err: err}
	}
	return Reading{Counters: &traffic}
}

// Apply performs the step's restarts, then records it in status and events.
// Restarting before the status write is what makes a crash repeat an
// idempotent restart instead of losing it.
func (r *Runner) Apply(ctx context.Context, mi *meshv1.MeshInstallation, step Step) error {
	if step.Action == ActionRestartWorkloads {
		if err := r.restart(ctx, mi, step); err != nil {
			return err
		}
	}
	before := mi.Status.Upgrade
	r.Record(mi, step)
	if now := step.Upgrade; now != nil && (before == nil || before.Phase != now.Phase || before.CurrentWave != now.CurrentWave || before.Step != now.Step) {
		r.event(mi, "Normal", "Upgrade"+now.Phase, string(step.Action), "%s", step.Message)
	}
	if v := step.Verdict; v != nil {
		kind := "Normal"
		if !v.Passed {
			kind = "Warning"
		}
		r.event(mi, kind, "Gate"+v.Reason, "Judge", "Gate %s: %s", v.Gate, v.Message)
	}
	return nil
}

// Record writes the step's upgrade standing and history into status, and
// acts on nothing (a paused installation records only).
func (r *Runner) Record(mi *meshv1.MeshInstallation, step Step) {
	mi.Status.Upgrade, mi.Status.UpgradeHistory = step.Upgrade, step.History
}

func (r *Runner) restart(ctx context.Context, mi *meshv1.MeshInstallation, step Step) error {
	for _, key := range step.Restart {
		if err := workload.Restart(ctx, r.Client, key, step.RestartAt); err != nil {
			return err
		}
	}
	if len(step.Restart) > 0 {
		r.event(mi, "Normal", "WorkloadsRestarted", "Restart", "Restarted %v onto the %s proxy", step.Restart, restartTarget(step))
	}
	var evicted []string
	for _, pod := range step.Evict {
		gone, err := workload.Evict(ctx, r.Client, pod)
		if err != nil {
			return err
		}
		if gone {
			evicted = append(evicted, pod)
		}
	}
	if len(evicted) > 0 {
		r.event(mi, "Warning", "PodsEvicted", "Evict", "Evicted %v: restarted off the %s proxy (the injector did not answer, or an old one did)", evicted, restartTarget(step))
	}
	return nil
}

// restartTarget is the version the step's restarts move proxies onto.
func restartTarget(step Step) string {
	if step.Upgrade == nil {
		return ""
	}
	if step.Upgrade.Phase == PhaseRollingBack {
		return step.Upgrade.From
	}
	return step.Upgrade.To
}

func (r *Runner) event(mi *meshv1.MeshInstallation, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(mi, nil, eventType, reason, action, note, args...)
	}
}
