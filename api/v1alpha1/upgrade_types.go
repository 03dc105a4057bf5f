package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Upgrade approval modes.
const (
	ApprovalAutomatic = "Automatic"
	ApprovalManual    = "Manual"
)

// What to do when a gate fails or a deadline passes.
const (
	OnFailureRollback = "Rollback"
	OnFailurePause    = "Pause"
)

// Gate metric sources.
const (
	GateSourceProxies    = "Proxies"
	GateSourcePrometheus = "Prometheus"
)

// UpgradeSpec says how a change of spec.version, or of
// spec.dataPlane.redirect, is carried out.
type UpgradeSpec struct {
	// Approval: Automatic proceeds at once; Manual waits until approvedVersion
	// equals the target version.
	// +kubebuilder:validation:Enum=Automatic;Manual
	// +kubebuilder:default=Automatic
	// +optional
	Approval string `json:"approval,omitempty"`
	// ApprovedVersion approves a Manual upgrade to this version.
	// +optional
	ApprovedVersion string `json:"approvedVersion,omitempty"`
	// Paused halts the upgrade between steps; clearing it resumes where it stopped.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// OnFailure: Rollback (default) returns to the previous version; Pause stops
	// and waits for a decision.
	// +kubebuilder:validation:Enum=Rollback;Pause
	// +kubebuilder:default=Rollback
	// +optional
	OnFailure string `json:"onFailure,omitempty"`
	// StepDeadline bounds each step (control plane or wave) including its bake window.
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s))+$`
	// +optional
	StepDeadline *metav1.Duration `json:"stepDeadline,omitempty"`
	// Waves restart meshed workloads in order. A workload joins the first wave
	// whose namespaceSelector matches its namespace; within a wave, percent
	// bounds the share of the remaining workloads taken. Without waves, one
	// wave per 50% of the workloads is used.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Waves []WaveSpec `json:"waves,omitempty"`
	// MaxUnavailable bounds how many workloads of a wave restart at the same time.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxUnavailable *int32 `json:"maxUnavailable,omitempty"`
	// Gate is the health check every step must pass.
	// +optional
	Gate *GateSpec `json:"gate,omitempty"`
}

// WaveSpec selects the workloads of one wave.
type WaveSpec struct {
	// Name labels the wave in status and events.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// NamespaceSelector picks the namespaces of this wave (all when empty).
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// Percent of the still-unplanned matching workloads this wave takes (default 100).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Percent *int32 `json:"percent,omitempty"`
}

// GateSpec is a health gate over the golden metrics of the upgraded workloads.
// +kubebuilder:validation:XValidation:rule="self.source != 'Prometheus' || has(self.prometheus)",message="gate.prometheus is required when source is Prometheus"
type GateSpec struct {
	// Source of the metrics: the proxies' own endpoints or a Prometheus server.
	// +kubebuilder:validation:Enum=Proxies;Prometheus
	// +kubebuilder:default=Proxies
	// +optional
	Source string `json:"source,omitempty"`
	// MinSuccessRate is the lowest acceptable share of successful requests, e.g. "0.99".
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	// +kubebuilder:default="0.99"
	// +optional
	MinSuccessRate string `json:"minSuccessRate,omitempty"`
	// MaxLatencyP99 is the highest acceptable p99 latency, absolute.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s|ms|us))+$`
	// +optional
	MaxLatencyP99 *metav1.Duration `json:"maxLatencyP99,omitempty"`
	// MaxLatencyP99Ratio bounds p99 relative to the pre-upgrade baseline, e.g. "1.5".
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +optional
	MaxLatencyP99Ratio string `json:"maxLatencyP99Ratio,omitempty"`
	// BakeWindow is how long traffic is observed before a verdict.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s))+$`
	// +optional
	BakeWindow *metav1.Duration `json:"bakeWindow,omitempty"`
	// MinRequests is the fewest requests a bake window needs for a verdict on
	// traffic; with fewer, only the structural checks decide.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinRequests *int64 `json:"minRequests,omitempty"`
	// Prometheus configures the Prometheus source.
	// +optional
	Prometheus *PrometheusGate `json:"prometheus,omitempty"`
}

// PrometheusGate reads gate metrics from a Prometheus HTTP API.
type PrometheusGate struct {
	// URL of the Prometheus server, e.g. http://prometheus.monitoring:9090.
	// +kubebuilder:validation:Pattern=`^https?://.+`
	URL string `json:"url"`
	// Checks are extra PromQL queries; each must return a single value within bounds.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Checks []PromQLCheck `json:"checks,omitempty"`
}

// PromQLCheck is one custom query with its acceptable range.
type PromQLCheck struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Query may use $namespaces (regex of the wave's namespaces) and $window (bake window).
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?$`
	// +optional
	Min string `json:"min,omitempty"`
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?$`
	// +optional
	Max string `json:"max,omitempty"`
}

// UpgradeStatus is an upgrade in progress (or the last one, until the next).
type UpgradeStatus struct {
	From string `json:"from"`
	To   string `json:"to"`
	// RedirectFrom and RedirectTo are set when the upgrade is a switch of
	// spec.dataPlane.redirect (InitContainer or CNI), alone (From equals To)
	// or with a version change: its waves restart the workloads onto
	// RedirectTo, and a rollback brings them back to RedirectFrom.
	// +optional
	RedirectFrom RedirectMode `json:"redirectFrom,omitempty"`
	// +optional
	RedirectTo RedirectMode `json:"redirectTo,omitempty"`
	// Phase: AwaitingApproval, ControlPlane, Wave, RollingBack, Paused, Succeeded, Failed.
	Phase string `json:"phase"`
	// Plan: the control-plane step, then the waves with their workloads.
	// +optional
	Plan []PlannedWave `json:"plan,omitempty"`
	// CurrentWave indexes Plan (-1 during the control-plane step).
	CurrentWave int32 `json:"currentWave"`
	// Step is "restart" (restarting workloads) or "bake" (observing traffic).
	// +optional
	Step string `json:"step,omitempty"`
	// StartedAt and StepStartedAt bound the upgrade and the current step;
	// StepStartedAt is empty while a pause holds the step clock.
	StartedAt metav1.Time `json:"startedAt"`
	// +optional
	StepStartedAt metav1.Time `json:"stepStartedAt,omitempty"`
	// Baseline holds the golden metrics measured before the upgrade started.
	// +optional
	Baseline *GateMeasurement `json:"baseline,omitempty"`
	// BakeStart holds the counters at the start of the current bake window.
	// +optional
	BakeStart *TrafficCounters `json:"bakeStart,omitempty"`
	// LastVerdict is the latest gate verdict with its measured values.
	// +optional
	LastVerdict *GateVerdict `json:"lastVerdict,omitempty"`
	// Message says what the upgrade is doing.
	// +optional
	Message string `json:"message,omitempty"`
}

// PlannedWave is one wave of the plan.
type PlannedWave struct {
	Name string `json:"name"`
	// Workloads as kind/namespace/name.
	Workloads []string `json:"workloads"`
	// Restarted workloads of this wave so far.
	// +optional
	Restarted []string `json:"restarted,omitempty"`
}

// TrafficCounters are cumulative counters of the gated proxies at one instant,
// kept in status so a verdict survives an operator restart.
type TrafficCounters struct {
	Requests int64 `json:"requests"`
	Failures int64 `json:"failures"`
	// Buckets are cumulative latency counts by upper bound (seconds, as text; "+Inf" last).
	// +optional
	Buckets []CounterBucket `json:"buckets,omitempty"`
	At      metav1.Time     `json:"at"`
}

// CounterBucket is one cumulative histogram bucket.
type CounterBucket struct {
	LE    string `json:"le"`
	Count int64  `json:"count"`
}

// GateMeasurement is what a gate measured over a window.
type GateMeasurement struct {
	Requests    int64  `json:"requests"`
	SuccessRate string `json:"successRate"`
	// LatencyP99 as a duration string; empty without observations.
	// +optional
	LatencyP99 string `json:"latencyP99,omitempty"`
}

// GateVerdict is the outcome of one gate.
type GateVerdict struct {
	// Gate names what was judged: "control-plane" or "wave/<name>".
	Gate   string `json:"gate"`
	Passed bool   `json:"passed"`
	// Reason is a condition-style reason, e.g. SuccessRateTooLow.
	Reason string `json:"reason"`
	// Measured values and the message with thresholds.
	GateMeasurement `json:",inline"`
	Message         string      `json:"message"`
	At              metav1.Time `json:"at"`
}

// UpgradeRecord is a finished upgrade in the bounded history.
type UpgradeRecord struct {
	From string `json:"from"`
	To   string `json:"to"`
	// RedirectFrom and RedirectTo are set for a switch of spec.dataPlane.redirect.
	// +optional
	RedirectFrom RedirectMode `json:"redirectFrom,omitempty"`
	// +optional
	RedirectTo RedirectMode `json:"redirectTo,omitempty"`
	StartedAt  metav1.Time  `json:"startedAt"`
	FinishedAt metav1.Time  `json:"finishedAt"`
	// Result: Succeeded, RolledBack, Failed.
	Result string `json:"result"`
	// +optional
	Reason string `json:"reason,omitempty"`
}

// MaxUpgradeHistory bounds status.upgradeHistory.
const MaxUpgradeHistory = 10
