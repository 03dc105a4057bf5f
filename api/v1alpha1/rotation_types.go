package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Annotations that ask the operator for one-off trust actions. Set them with
// `kubectl annotate mi <name> <key>=<any new value> --overwrite`; the operator
// acts once per distinct value and records the value it handled in status.
const (
	// RotateAnchorAnnotation starts an anchor rotation now (e.g. after a key compromise).
	RotateAnchorAnnotation = "mesh.meshkeeper.io/rotate-anchor"
	// RecoverTrustAnnotation replaces an expired anchor at once (see README: recovery).
	RecoverTrustAnnotation = "mesh.meshkeeper.io/recover-trust"
)

// Rotation triggers.
const (
	TriggerScheduled         = "Scheduled"
	TriggerRequested         = "Requested"
	TriggerUserAnchorChanged = "UserAnchorChanged"
	TriggerRecovery          = "Recovery"
	// TriggerAnchorSourceChanged: spec.trust.anchorSecretRef was set or removed.
	TriggerAnchorSourceChanged = "AnchorSourceChanged"
	// TriggerAnchorLost: the generated anchor Secret was deleted; its
	// certificate survives in the published bundle.
	TriggerAnchorLost = "AnchorLost"
)

// RotationSpec tunes anchor rotations.
type RotationSpec struct {
	// ConvergenceTimeout bounds each wait for the proxies; past it the
	// workloads of proxies that did not converge are restarted, a wave at a
	// time, and proxies nothing can be done for (no workload to restart, or
	// still lagging a convergenceTimeout after their restart) are reported as
	// stuck (status.trust.rotation.stuck, TrustReady=False/RotationStuck).
	// At most 24h, so a stuck rotation is reported within two days of its
	// phase starting, well inside the anchor's renewBefore (default 720h).
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="rotation.convergenceTimeout must be at most 24h"
	// +optional
	ConvergenceTimeout *metav1.Duration `json:"convergenceTimeout,omitempty"`
	// RestartWave is how many workloads one step restarts when proxies lag.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	RestartWave *int32 `json:"restartWave,omitempty"`
}

// RotationStatus is an anchor rotation in progress.
type RotationStatus struct {
	// Phase: Generate, Publish, AwaitBundle, SwitchIssuer, AwaitCertificates, Retire, AwaitRetire, Promote.
	Phase string `json:"phase"`
	// Trigger: Scheduled, Requested, UserAnchorChanged, AnchorSourceChanged,
	// AnchorLost or Recovery.
	Trigger string `json:"trigger"`
	// OldAnchor and NewAnchor are SHA-256 fingerprints.
	OldAnchor string `json:"oldAnchor"`
	// +optional
	NewAnchor string `json:"newAnchor,omitempty"`
	// StartedAt is when the rotation began; PhaseSince when its phase did.
	StartedAt  metav1.Time `json:"startedAt"`
	PhaseSince metav1.Time `json:"phaseSince"`
	// Converged of Total meshed proxies satisfy the current phase.
	// +optional
	Converged int32 `json:"converged,omitempty"`
	// +optional
	Total int32 `json:"total,omitempty"`
	// Lagging names up to 20 proxies (namespace/pod) that have not converged.
	// +optional
	Lagging []string `json:"lagging,omitempty"`
	// Restarted names workloads restarted in this phase because they lagged,
	// and LastRestartAt is when the last of them was.
	// +optional
	Restarted []string `json:"restarted,omitempty"`
	// +optional
	LastRestartAt *metav1.Time `json:"lastRestartAt,omitempty"`
	// Stuck names up to 20 proxies (namespace/pod) that still lag with
	// nothing left to try: convergenceTimeout passed and no workload can
	// replace them (bare pods, Jobs' pods), or theirs was restarted
	// convergenceTimeout ago (an OnDelete StatefulSet, an admin port a
	// NetworkPolicy blocks). StuckCount counts them all. The rotation waits
	// until they converge, are deleted or are annotated
	// meshkeeper.io/rotation-exclude=true.
	// +optional
	Stuck []string `json:"stuck,omitempty"`
	// +optional
	StuckCount int32 `json:"stuckCount,omitempty"`
	// Excluded names up to 20 meshed pods annotated
	// meshkeeper.io/rotation-exclude=true, which the rotation does not wait
	// for; ExcludedCount counts them all.
	// +optional
	Excluded []string `json:"excluded,omitempty"`
	// +optional
	ExcludedCount int32 `json:"excludedCount,omitempty"`
	// Message says what the rotation is doing.
	// +optional
	Message string `json:"message,omitempty"`
}

// RotationRecord is a finished rotation.
type RotationRecord struct {
	Trigger     string      `json:"trigger"`
	OldAnchor   string      `json:"oldAnchor"`
	NewAnchor   string      `json:"newAnchor"`
	StartedAt   metav1.Time `json:"startedAt"`
	CompletedAt metav1.Time `json:"completedAt"`
}
