package opmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func installation() *meshv1.MeshInstallation {
	mi := &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}}
	mi.Spec.Trust.Issuer = &meshv1.CertificateLifetime{Validity: metav1.Duration{Duration: 48 * time.Hour}, RenewBefore: metav1.Duration{Duration: 6 * time.Hour}}
	mi.Status.Trust.Anchor = &meshv1.CertificateStatus{NotBefore: metav1.NewTime(t0), NotAfter: metav1.NewTime(t0.Add(8760 * time.Hour))}
	mi.Status.Trust.Issuer = &meshv1.CertificateStatus{NotBefore: metav1.NewTime(t0), NotAfter: metav1.NewTime(t0.Add(48 * time.Hour))}
	mi.Status.DataPlane = meshv1.DataPlaneStatus{MeshedPods: 7, OutdatedProxies: 2, UnmeshedPods: 1}
	return mi
}

func value(t *testing.T, c prometheus.Collector, name string, labels ...string) float64 {
	t.Helper()
	switch v := c.(type) {
	case *prometheus.GaugeVec:
		return testutil.ToFloat64(v.WithLabelValues(labels...))
	case *prometheus.CounterVec:
		return testutil.ToFloat64(v.WithLabelValues(labels...))
	}
	t.Fatalf("%s: unexpected collector %T", name, c)
	return 0
}

func TestObserveTrustAndDataPlane(t *testing.T) {
	m, _ := newMetrics(t)
	mi := installation()
	m.Observe(mi, nil, nil)
	for _, c := range []struct {
		got, want float64
		what      string
	}{
		{value(t, m.certExpiry, CertificateExpiry, "mesh", CertAnchor), float64(t0.Add(8760 * time.Hour).Unix()), "anchor expiry"},
		{value(t, m.certExpiry, CertificateExpiry, "mesh", CertIssuer), float64(t0.Add(48 * time.Hour).Unix()), "issuer expiry"},
		// Defaulted anchor lifetime: renewBefore 720h.
		{value(t, m.certRenewal, CertificateRenewal, "mesh", CertAnchor), float64(t0.Add((8760 - 720) * time.Hour).Unix()), "anchor renewal"},
		{value(t, m.certRenewal, CertificateRenewal, "mesh", CertIssuer), float64(t0.Add(42 * time.Hour).Unix()), "issuer renewal"},
		{value(t, m.meshed, MeshedPods, "mesh"), 7, "meshed"},
		{value(t, m.outdated, OutdatedProxies, "mesh"), 2, "outdated"},
		{value(t, m.unmeshed, UnmeshedPods, "mesh"), 1, "unmeshed"},
		{value(t, m.rotPhase, RotationPhase, "mesh", RotationIdle), 1, "rotation idle"},
		{value(t, m.rotTimeout, RotationTimeout, "mesh"), 600, "default convergence timeout"},
		{value(t, m.upgPhase, UpgradePhase, "mesh", UpgradeNone), 1, "no upgrade"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestObserveRotationAndUpgradeStateSets(t *testing.T) {
	m, reg := newMetrics(t)
	mi := installation()
	mi.Status.Trust.Rotation = &meshv1.RotationStatus{Phase: "AwaitCertificates", PhaseSince: metav1.NewTime(t0), Converged: 3, Total: 5, StuckCount: 2}
	mi.Status.Upgrade = &meshv1.UpgradeStatus{Phase: "Wave", CurrentWave: 1, Plan: []meshv1.PlannedWave{{Name: "canary"}, {Name: "rest"}}}
	m.Observe(mi, nil, nil)
	if got := value(t, m.rotPhase, RotationPhase, "mesh", "AwaitCertificates"); got != 1 {
		t.Errorf("current rotation phase = %v, want 1", got)
	}
	if got := value(t, m.rotPhase, RotationPhase, "mesh", RotationIdle); got != 0 {
		t.Errorf("idle while rotating = %v, want 0", got)
	}
	if c, tot := value(t, m.rotConverged, RotationConverged, "mesh"), value(t, m.rotProxies, RotationProxies, "mesh"); c != 3 || tot != 5 {
		t.Errorf("converged/total = %v/%v, want 3/5", c, tot)
	}
	if got := value(t, m.rotStuck, RotationStuck, "mesh"); got != 2 {
		t.Errorf("stuck = %v, want 2", got)
	}
	if got := value(t, m.rotPhaseStart, RotationPhaseStart, "mesh"); got != float64(t0.Unix()) {
		t.Errorf("phase start = %v", got)
	}
	if w, n := value(t, m.upgWave, UpgradeWave, "mesh"), value(t, m.upgWaves, UpgradeWaves, "mesh"); w != 1 || n != 2 {
		t.Errorf("wave %v of %v, want 1 of 2", w, n)
	}
	// Exactly one member of each state set is 1.
	if n := testutil.CollectAndCount(m.rotPhase, RotationPhase); n != len(RotationPhases) {
		t.Errorf("rotation phase series = %d, want %d", n, len(RotationPhases))
	}
	// The rotation ends: its progress series go, the state set says Idle.
	mi.Status.Trust.Rotation, mi.Status.Upgrade = nil, nil
	m.Observe(mi, nil, nil)
	if n := testutil.CollectAndCount(m.rotConverged); n != 0 {
		t.Errorf("converged series after the rotation = %d, want 0", n)
	}
	if got := value(t, m.rotPhase, RotationPhase, "mesh", RotationIdle); got != 1 {
		t.Errorf("idle after rotation = %v", got)
	}
	if n := testutil.CollectAndCount(m.upgWave); n != 0 {
		t.Errorf("wave series without an upgrade = %d", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(""), UpgradeWave); err != nil {
		t.Error(err)
	}
}

func TestObserveCountsEachVerdictOnce(t *testing.T) {
	m, _ := newMetrics(t)
	mi := installation()
	failed := meshv1.GateVerdict{Gate: "wave/canary", Passed: false, Reason: "SuccessRateTooLow", At: metav1.NewTime(t0)}
	mi.Status.Upgrade = &meshv1.UpgradeStatus{Phase: "RollingBack", LastVerdict: &failed}
	// The pass that produced the verdict counts it; later passes that keep
	// it in status do not.
	m.Observe(mi, nil, nil)
	before := LastVerdict(mi)
	m.Observe(mi, before, nil)
	m.Observe(mi, LastVerdict(mi), nil)
	if got := value(t, m.verdicts, GateVerdicts, "mesh", "wave/canary", ResultFailed); got != 1 {
		t.Fatalf("failed verdicts = %v, want 1", got)
	}
	// A new verdict on the same gate (a later bake) counts again.
	passed := meshv1.GateVerdict{Gate: "wave/canary", Passed: true, Reason: "Healthy", At: metav1.NewTime(t0.Add(time.Minute))}
	before = LastVerdict(mi)
	mi.Status.Upgrade.LastVerdict = &passed
	m.Observe(mi, before, nil)
	if got := value(t, m.verdicts, GateVerdicts, "mesh", "wave/canary", ResultPassed); got != 1 {
		t.Errorf("passed verdicts = %v, want 1", got)
	}
}

func TestErrorPhase(t *testing.T) {
	base := errors.New("boom")
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("trust: %w", base), PhaseTrust},
		{fmt.Errorf("release: %w", base), PhaseRelease},
		{fmt.Errorf("upgrade: %w", base), PhaseUpgrade},
		{fmt.Errorf("observe control plane: %w", base), PhaseObserve},
		{fmt.Errorf("observe data plane: %w", base), PhaseObserve},
		{fmt.Errorf("unmeshed pods: %w", base), PhaseUnmeshed},
		{base, PhaseOther},
		{errors.New("trustworthy: not a phase"), PhaseOther},
	} {
		if got := ErrorPhase(c.err); got != c.want {
			t.Errorf("ErrorPhase(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestObserveCountsErrorsByPhaseAndForget(t *testing.T) {
	m, reg := newMetrics(t)
	mi := installation()
	m.Observe(mi, nil, fmt.Errorf("trust: %w", errors.New("secret unreadable")))
	m.Observe(mi, nil, fmt.Errorf("trust: %w", errors.New("secret unreadable")))
	m.Observe(mi, nil, nil)
	if got := value(t, m.reconcileErrors, ReconcileErrors, "mesh", PhaseTrust); got != 2 {
		t.Errorf("trust errors = %v, want 2", got)
	}
	other := installation()
	other.Name = "other"
	m.Observe(other, nil, nil)
	m.Forget("mesh")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == LabelInstallation && l.GetValue() == "mesh" {
					t.Errorf("%s still has a series of the forgotten installation", mf.GetName())
				}
			}
		}
	}
	if n := testutil.CollectAndCount(m.meshed); n != 1 {
		t.Errorf("meshed series after forgetting one of two = %d, want 1", n)
	}
}

// TestNamesAreExported: Names (what the dashboards and rules are checked
// against) is exactly what the registry serves.
func TestNamesAreExported(t *testing.T) {
	m, reg := newMetrics(t)
	mi := installation()
	mi.Status.Trust.Rotation = &meshv1.RotationStatus{Phase: "Publish"}
	mi.Status.Upgrade = &meshv1.UpgradeStatus{Phase: "Wave", LastVerdict: &meshv1.GateVerdict{Gate: "control-plane", Passed: true}}
	m.Observe(mi, nil, errors.New("x"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, n := range Names() {
		if !got[n] {
			t.Errorf("%s is listed but not served", n)
		}
		delete(got, n)
	}
	for n := range got {
		t.Errorf("%s is served but not listed in Names", n)
	}
}

// TestPromtoolCheckMetrics runs `promtool check metrics` (naming, help, units)
// on what the registry serves. MESHKEEPER_REQUIRE_PROMTOOL=1 (make
// test-monitoring) turns a missing promtool into a failure.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MESHKEEPER_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found")
		}
		t.Skip("promtool not installed (make test-monitoring installs it)")
	}
	m, reg := newMetrics(t)
	mi := installation()
	mi.Status.Trust.Rotation = &meshv1.RotationStatus{Phase: "Publish", Converged: 1, Total: 2}
	mi.Status.Upgrade = &meshv1.UpgradeStatus{Phase: "Wave", LastVerdict: &meshv1.GateVerdict{Gate: "control-plane", Passed: true}}
	m.Observe(mi, nil, errors.New("release: x"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// A scrape racing an observation always sees a phase: the envtest once read
// the upgrade phase in the gap after stateSet had deleted every series.
func TestStateSetNeverLeavesAGap(t *testing.T) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "x_phase"}, []string{LabelInstallation, LabelPhase})
	members := []string{"A", "B", "C"}
	stateSet(g, "mesh", members, "A")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			stateSet(g, "mesh", members, []string{"A", "B", "Newer"}[i%3])
		}
	}()
	for range 2000 {
		if n := testutil.CollectAndCount(g); n < len(members) {
			t.Fatalf("a scrape saw %d series, want at least %d", n, len(members))
		}
	}
	close(stop)
	<-done
	stateSet(g, "mesh", members, "B")
	if got := statesOf(g, "mesh"); len(got) != 3 || testutil.ToFloat64(g.WithLabelValues("mesh", "B")) != 1 {
		t.Errorf("after B: states %v", got)
	}
	stateSet(g, "other", members, "Newer")
	stateSet(g, "other", members, "C")
	if got := statesOf(g, "other"); slices.Contains(got, "Newer") {
		t.Errorf("the stale out-of-set state stayed: %v", got)
	}
}
