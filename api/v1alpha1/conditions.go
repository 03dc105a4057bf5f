package v1alpha1

// Condition types of a MeshInstallation.
const (
	// ConditionReady summarises the others: True when the control plane and trust are ready.
	ConditionReady = "Ready"
	// ConditionControlPlaneReady is True when the release is deployed and every
	// control-plane Deployment is available.
	ConditionControlPlaneReady = "ControlPlaneReady"
	// ConditionTrustReady is True when the anchor, issuer and bundle are valid and published.
	ConditionTrustReady = "TrustReady"
	// ConditionReconciling is True while the operator is changing something.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot progress without a spec change.
	ConditionStalled = "Stalled"
	// ConditionDegraded is True when the installation runs but something failed.
	ConditionDegraded = "Degraded"
)

// Condition reasons.
const (
	ReasonReady               = "Ready"
	ReasonProgressing         = "Progressing"
	ReasonPaused              = "Paused"
	ReasonUnsupportedVersion  = "UnsupportedVersion"
	ReasonInvalidValues       = "InvalidValues"
	ReasonInvalidAnchor       = "InvalidAnchor"
	ReasonAnchorExpiring      = "AnchorExpiring"
	ReasonAnchorExpired       = "AnchorExpired"
	ReasonRotating            = "Rotating"
	ReasonTrustPending        = "TrustPending"
	ReasonInstalling          = "Installing"
	ReasonUpgrading           = "Upgrading"
	ReasonInstallFailed       = "InstallFailed"
	ReasonUpgradeFailed       = "UpgradeFailed"
	ReasonRolledBack          = "RolledBack"
	ReasonDeploymentsNotReady = "DeploymentsNotReady"
	ReasonReleaseNotDeployed  = "ReleaseNotDeployed"
	ReasonAsExpected          = "AsExpected"
	// ReasonConflict: another MeshInstallation owns the cluster's mesh, or an
	// object the operator would write is labelled for another installation.
	ReasonConflict = "Conflict"
	// ReasonReconcileError: the same transient error persisted over several
	// attempts (Degraded); a single failure only shows in Reconciling.
	ReasonReconcileError = "ReconcileError"
	// ReasonUnknown: a read the condition depends on failed.
	ReasonUnknown = "ReadFailed"
)

// Certificate sources reported in status.
const (
	SourceGenerated    = "Generated"
	SourceUserProvided = "UserProvided"
)
