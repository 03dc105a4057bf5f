package conditions

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

// Observation is everything the conditions depend on.
type Observation struct {
	Generation int64
	// Paused: spec.paused is set, nothing was observed in this pass, and
	// Previous holds the conditions last written.
	Paused   bool
	Previous []metav1.Condition

	// Stalled is set when progress needs a spec change (reason, message).
	StalledReason, StalledMessage string
	// Err is a transient failure of this pass (retried with backoff), and
	// Failures the number of consecutive passes that failed, this one
	// included. Degraded turns True only at DegradedAfter: one write
	// conflict is not worth a page.
	Err      error
	Failures int

	// TrustUnknown and ControlPlaneUnknown: the pass failed before it could
	// read that part, so its condition is Unknown rather than a guess.
	TrustUnknown, ControlPlaneUnknown bool

	// TrustReady with its reason and message, as the trust phase saw it.
	TrustObserved bool
	TrustReady    bool
	TrustReason   string
	TrustMessage  string
	// RotationStuck says which proxies a rotation in progress waits on with
	// nothing more to try ("" when none): TrustReady turns False with
	// RotationStuck, so the user hears of it long before the old anchor expires.
	RotationStuck string

	// Release: what the control-plane release looks like after this pass.
	ReleaseExists   bool
	ReleaseStatus   string
	ReleaseInSync   bool
	ReleaseRevision int
	// UpgradeFailedMessage is set when the release was rolled back or held
	// after a failed upgrade: the mesh runs, but not as specified.
	// UpgradeFailedReason says why (default UpgradeFailed).
	UpgradeFailedMessage string
	UpgradeFailedReason  string
	// UpgradeHalted: the staged upgrade stopped (rolled back, or paused on a
	// failed gate) and waits for the user, so the installation is Stalled.
	UpgradeHalted bool
	// UpgradeActive is set while a staged upgrade is planned or under way.
	UpgradeActive                 bool
	UpgradeReason, UpgradeMessage string

	// Deployments: available over desired, and the names not yet available.
	ReadyReplicas, DesiredReplicas int32
	NotReady                       []string
	DeploymentsSeen                int
	// DeploymentsObserved: the release and its Deployments were read.
	DeploymentsObserved bool
	// CNIPluginNotReady says, with spec.dataPlane.redirect CNI, which nodes
	// lack a ready CNI plugin ("" when every node has one, or in
	// InitContainer mode): ControlPlaneReady, and so Ready, is False with
	// CNIPluginNotReady while it is set, since a meshed pod started on such a
	// node fails.
	CNIPluginNotReady string
	// ProbePending says which live probe of an available control plane has
	// not passed yet ("" once both passed): ControlPlaneReady waits for it.
	ProbePending string

	// DataPlaneObserved is set when the pods were examined this pass;
	// UnmeshedPods counts those that should carry the proxy and do not.
	DataPlaneObserved bool
	UnmeshedPods      int32
	UnmeshedMessage   string
}

// DegradedAfter is how many consecutive failed passes turn Degraded True.
// With controller-runtime's backoff the third attempt comes tens of
// milliseconds after the first; a conflict is gone by the second.
const DegradedAfter = 3

// Conditions returns the full set of conditions, in a fixed order. While
// paused the operator observes nothing: Reconciling says so, and every other
// condition present in o.Previous is kept as it was last observed.
func Conditions(o Observation) []metav1.Condition {
	conds := compute(o)
	if !o.Paused {
		return conds
	}
	for i, c := range conds {
		if prev := meta.FindStatusCondition(o.Previous, c.Type); prev != nil && c.Type != meshv1.ConditionReconciling {
			conds[i] = *prev
		}
	}
	return conds
}

func compute(o Observation) []metav1.Condition {
	conds := []metav1.Condition{
		trustReady(o),
		controlPlaneReady(o),
		stalled(o),
		degraded(o),
	}
	if o.DataPlaneObserved {
		conds = append(conds, dataPlaneReady(o))
	}
	conds = append(conds, reconciling(o, conds))
	conds = append(conds, ready(o, conds))
	for i := range conds {
		conds[i].ObservedGeneration = o.Generation
	}
	return conds
}

func trustReady(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionTrustReady}
	switch {
	case o.TrustUnknown:
		return unknown(c, "trust not read in this pass: "+errMessage(o))
	case !o.TrustObserved && o.StalledReason == meshv1.ReasonInvalidAnchor:
		return set(c, false, meshv1.ReasonInvalidAnchor, o.StalledMessage)
	case !o.TrustObserved:
		return set(c, false, meshv1.ReasonTrustPending, "trust anchor and issuer not established yet")
	case o.RotationStuck != "":
		return set(c, false, meshv1.ReasonRotationStuck, o.RotationStuck)
	case !o.TrustReady:
		return set(c, false, o.TrustReason, o.TrustMessage)
	}
	return set(c, true, meshv1.ReasonReady, o.TrustMessage)
}

func controlPlaneReady(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionControlPlaneReady}
	switch {
	case o.ControlPlaneUnknown:
		return unknown(c, "control plane not read in this pass: "+errMessage(o))
	case !o.ReleaseExists:
		return set(c, false, meshv1.ReasonInstalling, "control-plane release not installed yet")
	case o.ReleaseStatus != "deployed":
		return set(c, false, meshv1.ReasonReleaseNotDeployed, fmt.Sprintf("control-plane release revision %d is %s", o.ReleaseRevision, o.ReleaseStatus))
	case o.DeploymentsSeen == 0:
		return set(c, false, meshv1.ReasonDeploymentsNotReady, "no control-plane Deployments observed yet")
	case len(o.NotReady) > 0:
		return set(c, false, meshv1.ReasonDeploymentsNotReady,
			fmt.Sprintf("%d/%d replicas available; waiting for %s", o.ReadyReplicas, o.DesiredReplicas, strings.Join(o.NotReady, ", ")))
	case o.CNIPluginNotReady != "":
		return set(c, false, meshv1.ReasonCNIPluginNotReady, o.CNIPluginNotReady)
	case o.ProbePending != "":
		return set(c, false, meshv1.ReasonProbing, fmt.Sprintf("%d/%d replicas available; probing: %s", o.ReadyReplicas, o.DesiredReplicas, o.ProbePending))
	}
	return set(c, true, meshv1.ReasonReady, fmt.Sprintf("release revision %d deployed; %d/%d replicas available", o.ReleaseRevision, o.ReadyReplicas, o.DesiredReplicas))
}

// dataPlaneReady is not summarised into Ready: the control plane works, and
// the unmeshed pods are restarted or reported as the spec says.
func dataPlaneReady(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionDataPlaneReady}
	if o.UnmeshedPods > 0 {
		return set(c, false, meshv1.ReasonUnmeshedPods, o.UnmeshedMessage)
	}
	return set(c, true, meshv1.ReasonReady, "every pod that should carry the proxy does")
}

func stalled(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionStalled}
	if reason, msg := stall(o); reason != "" {
		return set(c, true, reason, msg)
	}
	return set(c, false, meshv1.ReasonAsExpected, "")
}

func degraded(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionDegraded}
	switch {
	case o.UpgradeFailedMessage != "":
		return set(c, true, upgradeFailedReason(o), o.UpgradeFailedMessage)
	case persistentError(o):
		return set(c, true, meshv1.ReasonReconcileError, persistentMessage(o))
	}
	return set(c, false, meshv1.ReasonAsExpected, "")
}

func reconciling(o Observation, others []metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionReconciling}
	if o.Paused {
		return set(c, false, meshv1.ReasonPaused, "reconciliation is paused (spec.paused)")
	}
	if reason, msg := stall(o); reason != "" {
		return set(c, false, reason, "stalled: "+msg)
	}
	for _, other := range others {
		if (other.Type == meshv1.ConditionTrustReady || other.Type == meshv1.ConditionControlPlaneReady) && other.Status != metav1.ConditionTrue {
			return set(c, true, meshv1.ReasonProgressing, other.Type+": "+other.Message)
		}
	}
	if o.UpgradeActive {
		return set(c, true, o.UpgradeReason, o.UpgradeMessage)
	}
	if o.Err != nil {
		return set(c, true, meshv1.ReasonProgressing, "retrying after: "+o.Err.Error())
	}
	return set(c, false, meshv1.ReasonAsExpected, "")
}

func ready(o Observation, others []metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionReady}
	if reason, msg := stall(o); reason != "" {
		return set(c, false, reason, msg)
	}
	for _, other := range others {
		if (other.Type == meshv1.ConditionTrustReady || other.Type == meshv1.ConditionControlPlaneReady) && other.Status != metav1.ConditionTrue {
			return set(c, false, other.Reason, other.Type+": "+other.Message)
		}
	}
	if o.UpgradeFailedMessage != "" {
		return set(c, false, upgradeFailedReason(o), o.UpgradeFailedMessage)
	}
	if persistentError(o) {
		return set(c, false, meshv1.ReasonReconcileError, persistentMessage(o))
	}
	return set(c, true, meshv1.ReasonReady, "mesh control plane and trust are ready")
}

// stall is why the installation waits for the user, if it does: a Stalled
// error of this pass, or a staged upgrade that stopped on a failure.
func stall(o Observation) (reason, message string) {
	switch {
	case o.StalledReason != "":
		return o.StalledReason, o.StalledMessage
	case o.UpgradeHalted && o.UpgradeFailedMessage != "":
		return upgradeFailedReason(o), o.UpgradeFailedMessage
	}
	return "", ""
}

func persistentError(o Observation) bool { return o.Err != nil && o.Failures >= DegradedAfter }

func persistentMessage(o Observation) string {
	return fmt.Sprintf("%d consecutive attempts failed; last: %v", o.Failures, o.Err)
}

func errMessage(o Observation) string {
	if o.Err == nil {
		return "unknown error"
	}
	return o.Err.Error()
}

func unknown(c metav1.Condition, message string) metav1.Condition {
	c.Status, c.Reason, c.Message = metav1.ConditionUnknown, meshv1.ReasonUnknown, message
	return c
}

func upgradeFailedReason(o Observation) string {
	if o.UpgradeFailedReason != "" {
		return o.UpgradeFailedReason
	}
	return meshv1.ReasonUpgradeFailed
}

func set(c metav1.Condition, ok bool, reason, message string) metav1.Condition {
	c.Status = metav1.ConditionFalse
	if ok {
		c.Status = metav1.ConditionTrue
	}
	c.Reason, c.Message = reason, message
	return c
}
