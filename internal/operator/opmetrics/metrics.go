// Package opmetrics exports the operator's own view of each installation as
// Prometheus metrics: certificate expiry, rotation and upgrade progress, gate
// verdicts, data-plane counts and reconcile errors. Gauges are set from the
// installation's status once per reconcile pass, so they say exactly what
// `kubectl get mi -o yaml` says; counters count events of that pass.
package opmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names (README "Operator metrics"; config/prometheus and
// config/grafana query them, and a test checks they name nothing else).
const (
	CertificateExpiry  = "meshkeeper_operator_certificate_expiry_timestamp_seconds"
	CertificateRenewal = "meshkeeper_operator_certificate_renewal_timestamp_seconds"
	RotationPhase      = "meshkeeper_operator_rotation_phase"
	RotationPhaseStart = "meshkeeper_operator_rotation_phase_start_timestamp_seconds"
	RotationTimeout    = "meshkeeper_operator_rotation_convergence_timeout_seconds"
	RotationConverged  = "meshkeeper_operator_rotation_proxies_converged"
	RotationProxies    = "meshkeeper_operator_rotation_proxies"
	RotationStuck      = "meshkeeper_operator_rotation_proxies_stuck"
	UpgradePhase       = "meshkeeper_operator_upgrade_phase"
	UpgradeWave        = "meshkeeper_operator_upgrade_current_wave"
	UpgradeWaves       = "meshkeeper_operator_upgrade_waves"
	GateVerdicts       = "meshkeeper_operator_gate_verdicts_total"
	MeshedPods         = "meshkeeper_operator_meshed_pods"
	OutdatedProxies    = "meshkeeper_operator_outdated_proxies"
	UnmeshedPods       = "meshkeeper_operator_unmeshed_pods"
	ReconcileErrors    = "meshkeeper_operator_reconcile_errors_total"
)

// Labels.
const (
	LabelInstallation = "installation"
	LabelCertificate  = "certificate" // CertAnchor or CertIssuer
	LabelPhase        = "phase"
	LabelGate         = "gate"   // "control-plane" or "wave/<name>"
	LabelResult       = "result" // ResultPassed or ResultFailed

	CertAnchor   = "anchor"
	CertIssuer   = "issuer"
	ResultPassed = "passed"
	ResultFailed = "failed"
)

// Metrics holds the collectors; New registers them.
type Metrics struct {
	certExpiry, certRenewal             *prometheus.GaugeVec
	rotPhase, rotPhaseStart, rotTimeout *prometheus.GaugeVec
	rotConverged, rotProxies, rotStuck  *prometheus.GaugeVec
	upgPhase, upgWave, upgWaves         *prometheus.GaugeVec
	meshed, outdated, unmeshed          *prometheus.GaugeVec
	verdicts, reconcileErrors           *prometheus.CounterVec
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append([]string{LabelInstallation}, labels...))
}

// New creates the collectors and registers them with reg (controller-runtime's
// metrics.Registry in the manager, a fresh registry in tests).
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		certExpiry:    gauge(CertificateExpiry, "When the trust anchor or the issuer certificate expires (notAfter), in Unix seconds.", LabelCertificate),
		certRenewal:   gauge(CertificateRenewal, "When the trust anchor or the issuer enters its renewal window (notAfter - renewBefore), in Unix seconds.", LabelCertificate),
		rotPhase:      gauge(RotationPhase, "Anchor rotation phase: 1 for the current phase (Idle when none runs), 0 for the others.", LabelPhase),
		rotPhaseStart: gauge(RotationPhaseStart, "When the running rotation entered its current phase, in Unix seconds (absent when idle)."),
		rotTimeout:    gauge(RotationTimeout, "The rotation's convergence timeout (spec.trust.rotation.convergenceTimeout), in seconds."),
		rotConverged:  gauge(RotationConverged, "Proxies that reached the running rotation's current phase (absent when idle)."),
		rotProxies:    gauge(RotationProxies, "Proxies the running rotation waits for (absent when idle)."),
		rotStuck:      gauge(RotationStuck, "Proxies the running rotation waits on with nothing left to try (status.trust.rotation.stuckCount; absent when idle)."),
		upgPhase:      gauge(UpgradePhase, "Staged upgrade phase: 1 for the current phase (None when no upgrade is recorded), 0 for the others.", LabelPhase),
		upgWave:       gauge(UpgradeWave, "The upgrade's current wave, an index into status.upgrade.plan (-1 during the control-plane step; absent without an upgrade)."),
		upgWaves:      gauge(UpgradeWaves, "Waves in the upgrade's plan (absent without an upgrade)."),
		meshed:        gauge(MeshedPods, "Pods running with a proxy (status.dataPlane.meshedPods)."),
		outdated:      gauge(OutdatedProxies, "Meshed pods whose proxy is not the installed version (status.dataPlane.outdatedProxies)."),
		unmeshed:      gauge(UnmeshedPods, "Pods that should carry a proxy and run without one (status.dataPlane.unmeshedPods)."),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: GateVerdicts,
			Help: "Upgrade gate verdicts, each counted once, by gate and result."}, []string{LabelInstallation, LabelGate, LabelResult}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ReconcileErrors,
			Help: "Reconcile passes that ended in an error, by the phase that failed."}, []string{LabelInstallation, LabelPhase}),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.certExpiry, m.certRenewal, m.rotPhase, m.rotPhaseStart, m.rotTimeout,
		m.rotConverged, m.rotProxies, m.rotStuck, m.upgPhase, m.upgWave, m.upgWaves, m.meshed, m.outdated, m.unmeshed,
		m.verdicts, m.reconcileErrors}
}

// Names lists every metric the operator exports under its own prefix.
func Names() []string {
	return []string{CertificateExpiry, CertificateRenewal, RotationPhase, RotationPhaseStart, RotationTimeout,
		RotationConverged, RotationProxies, RotationStuck, UpgradePhase, UpgradeWave, UpgradeWaves, GateVerdicts,
		MeshedPods, OutdatedProxies, UnmeshedPods, ReconcileErrors}
}
