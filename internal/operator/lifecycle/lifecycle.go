// Package lifecycle runs the phases of one MeshInstallation in order — ask
// the upgrade machine which version the control plane runs now, check the
// spec, establish trust, converge the control-plane release, observe
// readiness and the data plane, carry out the upgrade step — and turns what
// it saw into status. The three state machines it drives (release, rotation,
// upgrade) each gather facts, decide in a pure Next and apply in their own
// package; this package only orders them.
package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/conditions"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/derived"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/opmetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/probe"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/operator/rotation"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// ResyncInterval bounds how long a healthy installation goes unchecked, so
// drift in objects without a watch (Services, webhook) is still repaired.
const ResyncInterval = 5 * time.Minute

// Reconciler runs the phases. Its dependencies are injected so tests can use
// a fake clock and a real (envtest) API server.
type Reconciler struct {
	Client client.Client
	// APIReader reads uncached where a stale cache would mislead a decision.
	APIReader client.Reader
	Trust     *rotation.Runner
	Installer *release.Installer
	// Upgrade is the upgrade machine's apply side.
	Upgrade *upgrade.Runner
	// Probe earns Ready: the identity and injector probes.
	Probe    *probe.ControlPlane
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
	// Metrics, when set, exports each pass's outcome (internal/operator/opmetrics).
	Metrics *opmetrics.Metrics
	// Resync, when set, replaces ResyncInterval (a test injects a short one).
	Resync func() time.Duration
	// Pods, when set, reads every pod from the informer cache as the cache's
	// own objects (controllers.CachedPods); nil lists them through Client.
	Pods func(ctx context.Context) ([]*corev1.Pod, error)
	// ReplicaSets, when set, reads every ReplicaSet the same way
	// (controllers.CachedReplicaSets); nil lists them through Client.
	ReplicaSets func(ctx context.Context) ([]*appsv1.ReplicaSet, error)
	// Derived, when set, keeps what a pass derives from the pods,
	// ReplicaSets and namespaces for the next pass that reads the very same
	// objects; nil derives everything afresh.
	Derived *derived.Memo
}

func (r *Reconciler) resync() time.Duration {
	if r.Resync != nil {
		return r.Resync()
	}
	return ResyncInterval
}

// Run reconciles an installation that is neither paused nor being deleted. It
// fills mi.Status and returns when to look again.
func (r *Reconciler) Run(ctx context.Context, mi *meshv1.MeshInstallation) (time.Duration, error) {
	obs := conditions.Observation{Generation: mi.Generation}
	failuresBefore := mi.Status.ReconcileFailures
	verdictBefore := opmetrics.LastVerdict(mi)
	mi.Status.SupportedVersions = versions.Supported()
	requeue, err := r.run(ctx, mi, &obs)
	stalledErr, stalled := reconcileerr.AsStalled(err)
	mi.Status.ReconcileFailures = 0
	switch {
	case stalled:
		// The message keeps the phase prefix ("release: …") of the wrapped error.
		obs.StalledReason, obs.StalledMessage = stalledErr.Reason, err.Error()
		r.event(mi, "Warning", stalledErr.Reason, "Reconcile", "%s", err.Error())
	case err != nil:
		obs.Err = err
		mi.Status.ReconcileFailures = failuresBefore + 1
		obs.Failures = int(mi.Status.ReconcileFailures)
		obs.TrustUnknown = !obs.TrustObserved
		obs.ControlPlaneUnknown = !obs.DeploymentsObserved
	}
	setConditions(mi, obs)
	if err == nil || stalled {
		// The spec was acted on (or judged impossible): say which generation.
		mi.Status.ObservedGeneration = mi.Generation
	}
	r.Metrics.Observe(mi, verdictBefore, err)
	return requeue, err
}

func (r *Reconciler) run(ctx context.Context, mi *meshv1.MeshInstallation, obs *conditions.Observation) (time.Duration, error) {
	cl, err := r.observeCluster(ctx)
	if err != nil {
		return 0, fmt.Errorf("observe cluster: %w", err)
	}
	// The upgrade machine decides which version the control plane runs now:
	// spec.version only once a bump is planned, approved and under way.
	step, err := r.Upgrade.Step(ctx, mi, cl.Cluster)
	if err != nil {
		return 0, fmt.Errorf("upgrade: %w", err)
	}
	version := step.ControlPlaneVersion
	// Bad input stops here, before anything is created or changed: the chart
	// is rendered with a placeholder webhook CA before trust is touched.
	draft, err := release.Resolve(mi, version, []byte("placeholder"))
	if err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	if err := r.Installer.Validate(ctx, mi, draft); err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	trustOutcome, err := r.Trust.Reconcile(ctx, mi)
	if err != nil {
		return 0, fmt.Errorf("trust: %w", err)
	}
	r.recordTrust(mi, trustOutcome.State, obs)

	// The control plane follows the upgrade machine's redirect mode too: a
	// switch of spec.dataPlane.redirect reaches the injector only once the
	// switch is recorded (and approved), like a version bump.
	want, err := release.Resolve(withRedirect(mi, step.ControlPlaneRedirect), version, trustOutcome.State.WebhookCABundle)
	if err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	rel, relErr := r.Installer.Reconcile(ctx, mi, want)
	r.recordRelease(mi, rel, want, obs)
	if rel != nil && rel.Status == helm.StatusDeployed && rel.Digest == want.Digest {
		mi.Status.Redirect = step.ControlPlaneRedirect
	}
	deps, err := r.observeDeployments(ctx, mi, obs)
	if err != nil {
		return 0, fmt.Errorf("observe control plane: %w", err)
	}
	obs.DeploymentsObserved = relErr == nil || rel != nil
	if err := r.observeCNIPlugin(ctx, mi, step.ControlPlaneRedirect, cl.Pods, obs); err != nil {
		return 0, fmt.Errorf("observe CNI plugin: %w", err)
	}
	r.observeDataPlane(mi, cl.Pods)
	// Ready is earned: available Deployments are not enough, the injector
	// must answer admission and the identity service must issue.
	probeAfter, injectorAnswers := r.earnReady(ctx, mi, rel, deps, cl.Namespaces, obs)
	// The upgrade step is recorded even when the release failed: the machine
	// turns a failed control-plane upgrade into a rollback on the next pass.
	if err := r.Upgrade.Apply(ctx, mi, step); err != nil {
		return 0, fmt.Errorf("upgrade: %w", err)
	}
	recordUpgrade(step, obs)
	unmeshedAfter, err := r.reconcileUnmeshed(ctx, mi, cl, unmeshedCheck{
		InjectorAnswers: injectorAnswers, UpgradeRunning: upgrade.InProgress(step.Upgrade)}, obs)
	if err != nil {
		return 0, fmt.Errorf("unmeshed pods: %w", err)
	}
	if relErr != nil {
		return 0, fmt.Errorf("release: %w", relErr)
	}
	requeue := min(max(trustOutcome.RecheckAfter, time.Second), r.resync())
	for _, after := range []time.Duration{step.RecheckAfter, probeAfter, unmeshedAfter} {
		if after > 0 {
			requeue = min(requeue, after)
		}
	}
	if step.Action == upgrade.ActionRefuse {
		return requeue, reconcileerr.Stalledf(step.Reason, "upgrade: %s", step.Message)
	}
	return requeue, nil
}

// Refuse reports an installation that may not act (another owns the mesh):
// conditions only, from the one conditions function.
func (r *Reconciler) Refuse(_ context.Context, mi *meshv1.MeshInstallation, err error) {
	obs := conditions.Observation{Generation: mi.Generation}
	if s, ok := reconcileerr.AsStalled(err); ok {
		obs.StalledReason, obs.StalledMessage = s.Reason, s.Error()
		if c := meta.FindStatusCondition(mi.Status.Conditions, meshv1.ConditionStalled); c == nil || c.Reason != s.Reason {
			r.event(mi, "Warning", s.Reason, "Reconcile", "%s", s.Error())
		}
	} else {
		obs.Err = err
	}
	setConditions(mi, obs)
	mi.Status.ObservedGeneration = mi.Generation
}

// setConditions writes the conditions the one conditions function derives.
func setConditions(mi *meshv1.MeshInstallation, obs conditions.Observation) {
	for _, c := range conditions.Conditions(obs) {
		meta.SetStatusCondition(&mi.Status.Conditions, c)
	}
}

// recordUpgrade feeds the upgrade's standing into the conditions.
func recordUpgrade(step upgrade.Step, obs *conditions.Observation) {
	st := step.Upgrade
	if st == nil {
		return
	}
	switch st.Phase {
	case upgrade.PhaseAwaitingApproval, upgrade.PhaseControlPlane, upgrade.PhaseWave, upgrade.PhaseRollingBack:
		obs.UpgradeActive, obs.UpgradeReason, obs.UpgradeMessage = true, step.Reason, step.Message
	case upgrade.PhasePaused, upgrade.PhaseFailed:
		obs.UpgradeHalted = true
		obs.UpgradeFailedMessage = st.Message
		if st.LastVerdict != nil && !st.LastVerdict.Passed {
			obs.UpgradeFailedMessage = fmt.Sprintf("upgrade %s → %s: gate %s failed (%s): %s",
				st.From, st.To, st.LastVerdict.Gate, st.LastVerdict.Reason, st.LastVerdict.Message)
		}
		obs.UpgradeFailedReason = haltedReason(step)
	}
}

// haltedReason keeps naming how a halted upgrade ended on every later pass:
// the machine reports its rollback as RolledBack once, then holds the failed
// target with the generic UpgradeFailed; the history says which it was.
func haltedReason(step upgrade.Step) string {
	st := step.Upgrade
	if h := step.History; st.Phase == upgrade.PhaseFailed && len(h) > 0 && h[0].From == st.From && h[0].To == st.To &&
		h[0].StartedAt.Equal(&st.StartedAt) && h[0].Result == upgrade.ResultRolledBack {
		return meshv1.ReasonRolledBack
	}
	return step.Reason
}

// Finalize removes what the installation created: the control-plane release
// and the trust objects. User workloads and namespaces are left alone.
func (r *Reconciler) Finalize(ctx context.Context, mi *meshv1.MeshInstallation) error {
	if err := r.Installer.Uninstall(ctx, mi); err != nil {
		return fmt.Errorf("release: uninstall control plane: %w", err)
	}
	if err := r.Trust.Trust.Cleanup(ctx, mi); err != nil {
		return fmt.Errorf("trust: remove trust objects: %w", err)
	}
	r.Metrics.Forget(mi.Name)
	return nil
}

func (r *Reconciler) recordTrust(mi *meshv1.MeshInstallation, st *trust.State, obs *conditions.Observation) {
	now := r.Clock.Now()
	mi.Status.Trust.Anchor = certStatus(st.Active, st.Source)
	mi.Status.Trust.Issuer = nil
	if st.Issuer != nil { // missing mid-rotation until it can be re-issued safely
		mi.Status.Trust.Issuer = certStatus(st.Issuer, meshv1.SourceGenerated)
	}
	mi.Status.Trust.BundleFingerprints = nil
	for _, c := range st.Bundle {
		mi.Status.Trust.BundleFingerprints = append(mi.Status.Trust.BundleFingerprints, pki.Fingerprint(c))
	}
	obs.TrustObserved = true
	anchorRenewal := pki.RenewalTime(st.Active.Cert, mi.Spec.Trust.AnchorLifetime().RenewBefore.Duration)
	if rot := mi.Status.Trust.Rotation; rot != nil {
		obs.TrustReady, obs.TrustReason = true, meshv1.ReasonRotating
		obs.TrustMessage = fmt.Sprintf("rotating anchor %s → %s: %s (%d/%d proxies)", pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(rot.NewAnchor), rot.Phase, rot.Converged, rot.Total)
		if rot.StuckCount > 0 {
			obs.RotationStuck = fmt.Sprintf("rotation %s → %s stuck in %s: %d proxies did not converge and cannot be restarted further (%s); annotate them %s=true or delete them. The old anchor expires at %s",
				pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(rot.NewAnchor), rot.Phase, rot.StuckCount, strings.Join(rot.Stuck, ", "),
				contract.RotationExcludeAnnotation, st.Active.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
		return
	}
	if st.Source == meshv1.SourceUserProvided && !now.Before(anchorRenewal) {
		// A provided anchor cannot be rotated for the user: say so well before it expires.
		obs.TrustReady, obs.TrustReason = false, meshv1.ReasonAnchorExpiring
		obs.TrustMessage = fmt.Sprintf("user-provided trust anchor %s expires at %s; replace the Secret's anchor to rotate it without downtime",
			pki.ShortFingerprint(pki.Fingerprint(st.Active.Cert)), st.Active.Cert.NotAfter.UTC().Format(time.RFC3339))
		r.event(mi, "Warning", meshv1.ReasonAnchorExpiring, "Check", "%s", obs.TrustMessage)
		return
	}
	if st.Issuer == nil {
		obs.TrustReady, obs.TrustReason = false, meshv1.ReasonTrustPending
		obs.TrustMessage = fmt.Sprintf("anchor %s (%s) in effect; no identity issuer yet", pki.ShortFingerprint(pki.Fingerprint(st.Active.Cert)), st.Source)
		return
	}
	obs.TrustReady, obs.TrustReason = true, meshv1.ReasonReady
	obs.TrustMessage = fmt.Sprintf("anchor %s (%s) valid until %s; issuer %s valid until %s",
		pki.ShortFingerprint(pki.Fingerprint(st.Active.Cert)), st.Source, st.Active.Cert.NotAfter.UTC().Format(time.RFC3339),
		pki.ShortFingerprint(pki.Fingerprint(st.Issuer.Cert)), st.Issuer.Cert.NotAfter.UTC().Format(time.RFC3339))
}

func (r *Reconciler) recordRelease(mi *meshv1.MeshInstallation, rel *helm.Release, want *release.Desired, obs *conditions.Observation) {
	if rel == nil {
		return
	}
	obs.ReleaseExists, obs.ReleaseStatus, obs.ReleaseRevision = true, string(rel.Status), rel.Revision
	obs.ReleaseInSync = rel.Digest == want.Digest
	if rel.Status == helm.StatusDeployed {
		mi.Status.InstalledVersion = rel.ChartVersion
	}
	st := mi.Status.ControlPlane
	if st.FailedDigest != "" && rel.LastDeployedRevision > 0 && !obs.ReleaseInSync {
		obs.UpgradeFailedMessage = fmt.Sprintf("upgrade to %s failed %d time(s); running revision %d (%s)",
			mi.Spec.Version, st.Failures, rel.LastDeployedRevision, mi.Status.InstalledVersion)
	}
}

func (r *Reconciler) observeDeployments(ctx context.Context, mi *meshv1.MeshInstallation, obs *conditions.Observation) ([]appsv1.Deployment, error) {
	var deps appsv1.DeploymentList
	if err := r.Client.List(ctx, &deps, client.InNamespace(mi.Spec.ControlPlane.Namespace),
		client.MatchingLabels{contract.InstallationLabel: mi.Name}); err != nil {
		return nil, err
	}
	rd := release.ObserveReadiness(deps.Items)
	obs.DeploymentsSeen, obs.ReadyReplicas, obs.DesiredReplicas, obs.NotReady = rd.Seen, rd.ReadyReplicas, rd.DesiredReplicas, rd.NotReady
	mi.Status.ControlPlane.ReadyReplicas, mi.Status.ControlPlane.DesiredReplicas = rd.ReadyReplicas, rd.DesiredReplicas
	return deps.Items, nil
}

// observeDataPlane counts the meshed pods against the installed mesh version.
// The unmeshed ones are counted by reconcileUnmeshed.
func (r *Reconciler) observeDataPlane(mi *meshv1.MeshInstallation, pods []*corev1.Pod) {
	installed := ""
	if rel, err := versions.Lookup(mi.Status.InstalledVersion); err == nil {
		installed = rel.ProxyVersion
	}
	s := derived.Get(r.Derived, "summary\x00"+installed, func() dataplane.Summary { return dataplane.Summarize(pods, installed) })
	dp := meshv1.DataPlaneStatus{MeshedPods: s.MeshedPods, OutdatedProxies: s.OutdatedProxies, NotReadyProxies: s.NotReadyProxies,
		UnmeshedPods: mi.Status.DataPlane.UnmeshedPods, UnmeshedPodNames: mi.Status.DataPlane.UnmeshedPodNames}
	for _, v := range s.Versions {
		dp.ProxyVersions = append(dp.ProxyVersions, meshv1.ProxyVersionCount{Version: v.Version, Pods: v.Pods})
	}
	mi.Status.DataPlane = dp
}

func (r *Reconciler) event(mi *meshv1.MeshInstallation, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(mi, nil, eventType, reason, action, note, args...)
	}
}

func certStatus(kp *pki.KeyPair, source string) *meshv1.CertificateStatus {
	return &meshv1.CertificateStatus{
		Fingerprint: pki.Fingerprint(kp.Cert),
		NotBefore:   metav1.NewTime(kp.Cert.NotBefore),
		NotAfter:    metav1.NewTime(kp.Cert.NotAfter),
		Source:      source,
	}
}
