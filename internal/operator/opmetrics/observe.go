package opmetrics

import (
	"crypto/x509"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/rotation"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Phase values beside the machines' own: no rotation running, no upgrade recorded.
const (
	RotationIdle = "Idle"
	UpgradeNone  = "None"
)

// RotationPhases and UpgradePhases are the state sets' members.
var (
	RotationPhases = []string{RotationIdle, string(rotation.PhaseGenerate), string(rotation.PhasePublish),
		string(rotation.PhaseAwaitBundle), string(rotation.PhaseSwitchIssuer), string(rotation.PhaseAwaitCerts),
		string(rotation.PhaseRetire), string(rotation.PhaseAwaitRetire), string(rotation.PhasePromote)}
	UpgradePhases = []string{UpgradeNone, upgrade.PhaseAwaitingApproval, upgrade.PhaseControlPlane, upgrade.PhaseWave,
		upgrade.PhaseRollingBack, upgrade.PhasePaused, upgrade.PhaseSucceeded, upgrade.PhaseFailed}
)

// LastVerdict copies the installation's latest gate verdict, taken before a
// pass so that Observe counts only the verdict the pass produced.
func LastVerdict(mi *meshv1.MeshInstallation) *meshv1.GateVerdict {
	if mi.Status.Upgrade == nil || mi.Status.Upgrade.LastVerdict == nil {
		return nil
	}
	v := *mi.Status.Upgrade.LastVerdict
	return &v
}

// Observe sets the installation's gauges from its status after a pass, counts
// a verdict the pass produced (one differing from verdictBefore) and the
// pass's error by phase. A nil *Metrics records nothing.
func (m *Metrics) Observe(mi *meshv1.MeshInstallation, verdictBefore *meshv1.GateVerdict, err error) {
	if m == nil {
		return
	}
	name := mi.Name
	m.observeTrust(name, mi)
	m.observeRotation(name, mi)
	m.observeUpgrade(name, mi.Status.Upgrade)
	dp := mi.Status.DataPlane
	m.meshed.WithLabelValues(name).Set(float64(dp.MeshedPods))
	m.outdated.WithLabelValues(name).Set(float64(dp.OutdatedProxies))
	m.unmeshed.WithLabelValues(name).Set(float64(dp.UnmeshedPods))
	if v := LastVerdict(mi); v != nil && (verdictBefore == nil || !sameVerdict(*v, *verdictBefore)) {
		m.verdicts.WithLabelValues(name, v.Gate, result(v.Passed)).Inc()
	}
	if err != nil {
		m.reconcileErrors.WithLabelValues(name, ErrorPhase(err)).Inc()
	}
}

// Forget drops every series of a deleted installation.
func (m *Metrics) Forget(name string) {
	if m == nil {
		return
	}
	for _, c := range m.collectors() {
		switch v := c.(type) {
		case *prometheus.GaugeVec:
			v.DeletePartialMatch(prometheus.Labels{LabelInstallation: name})
		case *prometheus.CounterVec:
			v.DeletePartialMatch(prometheus.Labels{LabelInstallation: name})
		}
	}
}

func (m *Metrics) observeTrust(name string, mi *meshv1.MeshInstallation) {
	for _, c := range []struct {
		label  string
		status *meshv1.CertificateStatus
		life   meshv1.CertificateLifetime
	}{
		{CertAnchor, mi.Status.Trust.Anchor, mi.Spec.Trust.AnchorLifetime()},
		{CertIssuer, mi.Status.Trust.Issuer, mi.Spec.Trust.IssuerLifetime()},
	} {
		if c.status == nil {
			m.certExpiry.DeleteLabelValues(name, c.label)
			m.certRenewal.DeleteLabelValues(name, c.label)
			continue
		}
		m.certExpiry.WithLabelValues(name, c.label).Set(unix(c.status.NotAfter.Time))
		// The operator's own rule for when renewal starts (pki.RenewalTime),
		// so the alert and the rotation agree.
		renew := pki.RenewalTime(&x509.Certificate{NotBefore: c.status.NotBefore.Time, NotAfter: c.status.NotAfter.Time}, c.life.RenewBefore.Duration)
		m.certRenewal.WithLabelValues(name, c.label).Set(unix(renew))
	}
}

func (m *Metrics) observeRotation(name string, mi *meshv1.MeshInstallation) {
	timeout := rotation.DefaultConvergenceTimeout
	if r := mi.Spec.Trust.Rotation; r != nil && r.ConvergenceTimeout != nil {
		timeout = r.ConvergenceTimeout.Duration
	}
	m.rotTimeout.WithLabelValues(name).Set(timeout.Seconds())
	rot := mi.Status.Trust.Rotation
	if rot == nil {
		stateSet(m.rotPhase, name, RotationPhases, RotationIdle)
		m.rotPhaseStart.DeleteLabelValues(name)
		m.rotConverged.DeleteLabelValues(name)
		m.rotProxies.DeleteLabelValues(name)
		m.rotStuck.DeleteLabelValues(name)
		return
	}
	stateSet(m.rotPhase, name, RotationPhases, rot.Phase)
	m.rotPhaseStart.WithLabelValues(name).Set(unix(rot.PhaseSince.Time))
	m.rotConverged.WithLabelValues(name).Set(float64(rot.Converged))
	m.rotProxies.WithLabelValues(name).Set(float64(rot.Total))
	m.rotStuck.WithLabelValues(name).Set(float64(rot.StuckCount))
}

func (m *Metrics) observeUpgrade(name string, st *meshv1.UpgradeStatus) {
	if st == nil {
		stateSet(m.upgPhase, name, UpgradePhases, UpgradeNone)
		m.upgWave.DeleteLabelValues(name)
		m.upgWaves.DeleteLabelValues(name)
		return
	}
	stateSet(m.upgPhase, name, UpgradePhases, st.Phase)
	m.upgWave.WithLabelValues(name).Set(float64(st.CurrentWave))
	m.upgWaves.WithLabelValues(name).Set(float64(len(st.Plan)))
}

// stateSet writes 1 for current and 0 for the other members; a value outside
// the set (a newer status) is still shown, as its own series. It only ever
// overwrites the members' series: deleting them first, as it once did, let a
// scrape in between see no phase at all. Stale series outside the set are
// deleted after the current one is written.
func stateSet(g *prometheus.GaugeVec, name string, members []string, current string) {
	for _, p := range members {
		if p != current {
			g.WithLabelValues(name, p).Set(0)
		}
	}
	g.WithLabelValues(name, current).Set(1)
	for _, state := range statesOf(g, name) {
		if state != current && !slices.Contains(members, state) {
			g.DeleteLabelValues(name, state)
		}
	}
}

// statesOf lists the phase label of name's series in g.
func statesOf(g *prometheus.GaugeVec, name string) []string {
	ch := make(chan prometheus.Metric)
	go func() { g.Collect(ch); close(ch) }()
	var out []string
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		var inst, phase string
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case LabelInstallation:
				inst = l.GetValue()
			case LabelPhase:
				phase = l.GetValue()
			}
		}
		if inst == name {
			out = append(out, phase)
		}
	}
	return out
}

func sameVerdict(a, b meshv1.GateVerdict) bool {
	return a.Gate == b.Gate && a.Passed == b.Passed && a.Reason == b.Reason && a.At.Equal(&b.At)
}

func result(passed bool) string {
	if passed {
		return ResultPassed
	}
	return ResultFailed
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
