package v1alpha1

// Condition types of a MeshInstallation.
const (
	// ConditionReady summarises the others: True when the control plane and trust are ready.
	ConditionReady = "Ready"
	// ConditionControlPlaneReady is True when the release is deployed, every
	// control-plane Deployment is available and, with redirect CNI, the CNI
	// plugin is ready on every node.
	ConditionControlPlaneReady = "ControlPlaneReady"
	// ConditionTrustReady is True when the anchor, issuer and bundle are valid and published.
	ConditionTrustReady = "TrustReady"
	// ConditionReconciling is True while the operator is changing something.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot progress without a spec change.
	ConditionStalled = "Stalled"
	// ConditionDegraded is True when the installation runs but something failed.
	ConditionDegraded = "Degraded"
	// ConditionDataPlaneReady is False while pods that should carry the proxy
	// run without it (reason UnmeshedPods). It is not part of Ready: the
	// control plane works, and the operator restarts those workloads itself
	// (spec.dataPlane.unmeshedPods=Restart) or the user chose to only be told.
	ConditionDataPlaneReady = "DataPlaneReady"
)

// Condition reasons.
const (
	ReasonReady              = "Ready"
	ReasonProgressing        = "Progressing"
	ReasonPaused             = "Paused"
	ReasonUnsupportedVersion = "UnsupportedVersion"
	ReasonInvalidValues      = "InvalidValues"
	ReasonInvalidAnchor      = "InvalidAnchor"
	ReasonAnchorExpiring     = "AnchorExpiring"
	ReasonAnchorExpired      = "AnchorExpired"
	ReasonRotating           = "Rotating"
	// ReasonRotationStuck: a rotation waits on proxies nothing more can be
	// done for (status.trust.rotation.stuck); exclude or delete them.
	ReasonRotationStuck       = "RotationStuck"
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
	// ReasonProbing: the control plane's Deployments are available, but the
	// injector or identity probe has not passed yet.
	ReasonProbing = "Probing"
	// ReasonUnmeshedPods: pods that should carry the proxy run without it.
	ReasonUnmeshedPods = "UnmeshedPods"
	// ReasonCNIPluginNotReady: with spec.dataPlane.redirect CNI, the CNI
	// plugin's DaemonSet is missing or not ready on some node
	// (status.cniPlugin names them): a meshed pod started there would fail.
	ReasonCNIPluginNotReady = "CNIPluginNotReady"
)

// Certificate sources reported in status.
const (
	SourceGenerated    = "Generated"
	SourceUserProvided = "UserProvided"
)
