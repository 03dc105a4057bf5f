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
	// Err is a transient failure of this pass (retried with backoff).
	Err error

	// TrustReady with its reason and message, as the trust phase saw it.
	TrustObserved bool
	TrustReady    bool
	TrustReason   string
	TrustMessage  string

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
	// UpgradeActive is set while a staged upgrade is planned or under way.
	UpgradeActive                 bool
	UpgradeReason, UpgradeMessage string

	// Deployments: available over desired, and the names not yet available.
	ReadyReplicas, DesiredReplicas int32
	NotReady                       []string
	DeploymentsSeen                int
}

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
	case !o.TrustObserved && o.StalledReason == meshv1.ReasonInvalidAnchor:
		return set(c, false, meshv1.ReasonInvalidAnchor, o.StalledMessage)
	case !o.TrustObserved:
		return set(c, false, meshv1.ReasonTrustPending, "trust anchor and issuer not established yet")
	case !o.TrustReady:
		return set(c, false, o.TrustReason, o.TrustMessage)
	}
	return set(c, true, meshv1.ReasonReady, o.TrustMessage)
}

func controlPlaneReady(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionControlPlaneReady}
	switch {
	case !o.ReleaseExists:
		return set(c, false, meshv1.ReasonInstalling, "control-plane release not installed yet")
	case o.ReleaseStatus != "deployed":
		return set(c, false, meshv1.ReasonReleaseNotDeployed, fmt.Sprintf("control-plane release revision %d is %s", o.ReleaseRevision, o.ReleaseStatus))
	case o.DeploymentsSeen == 0:
		return set(c, false, meshv1.ReasonDeploymentsNotReady, "no control-plane Deployments observed yet")
	case len(o.NotReady) > 0:
		return set(c, false, meshv1.ReasonDeploymentsNotReady,
			fmt.Sprintf("%d/%d replicas available; waiting for %s", o.ReadyReplicas, o.DesiredReplicas, strings.Join(o.NotReady, ", ")))
	}
	return set(c, true, meshv1.ReasonReady, fmt.Sprintf("release revision %d deployed; %d/%d replicas available", o.ReleaseRevision, o.ReadyReplicas, o.DesiredReplicas))
}

func stalled(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionStalled}
	if o.StalledReason != "" {
		return set(c, true, o.StalledReason, o.StalledMessage)
	}
	return set(c, false, meshv1.ReasonAsExpected, "")
}

func degraded(o Observation) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionDegraded}
	switch {
	case o.UpgradeFailedMessage != "":
		return set(c, true, upgradeFailedReason(o), o.UpgradeFailedMessage)
	case o.Err != nil:
		return set(c, true, "ReconcileError", o.Err.Error())
	}
	return set(c, false, meshv1.ReasonAsExpected, "")
}

func reconciling(o Observation, others []metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionReconciling}
	switch {
	case o.Paused:
		return set(c, false, meshv1.ReasonPaused, "reconciliation is paused (spec.paused)")
	case o.StalledReason != "":
		return set(c, false, o.StalledReason, "stalled: "+o.StalledMessage)
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
	if o.StalledReason != "" {
		return set(c, false, o.StalledReason, o.StalledMessage)
	}
	for _, other := range others {
		if (other.Type == meshv1.ConditionTrustReady || other.Type == meshv1.ConditionControlPlaneReady) && other.Status != metav1.ConditionTrue {
			return set(c, false, other.Reason, other.Type+": "+other.Message)
		}
	}
	if o.UpgradeFailedMessage != "" {
		return set(c, false, upgradeFailedReason(o), o.UpgradeFailedMessage)
	}
	return set(c, true, meshv1.ReasonReady, "mesh control plane and trust are ready")
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
