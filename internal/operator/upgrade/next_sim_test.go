package upgrade

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	wl "github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	vFrom, vTo   = "0.1.0", "0.2.0"
	pFrom, pTo   = "proxy-1", "proxy-2"
	requestsPerS = 10.0
)

var (
	supported     = []string{"0.1.0", "0.2.0", "0.3.0"}
	proxyVersions = map[string]string{vFrom: pFrom, vTo: pTo}
)

// world simulates what the reconciler observes and does: it keeps the control
// plane at the Step's ControlPlaneVersion, rolls workloads instantly on a new
// restart stamp (onto the proxy of the running control plane), writes status
// unless a crash is injected, and serves traffic whose failure rate depends on
// the proxy version.
type world struct {
	t         *testing.T
	now       time.Time
	spec      meshv1.MeshInstallationSpec
	cpVersion string
	cpReady   bool
	// cpRedirect is the mode the release runs; statusRedirect the one the
	// status records (written with the rest of the status, so a crash loses it).
	cpRedirect, statusRedirect meshv1.RedirectMode
	failRateMode               map[meshv1.RedirectMode]float64
	upgrade                    *meshv1.UpgradeStatus
	history                    []meshv1.UpgradeRecord
	workloads                  map[string]*simWorkload
	failRate                   map[string]float64 // by proxy version
	pass                       int
	crashAt                    map[int]bool // passes whose status write is lost
	actions                    []Action
	verdicts                   []meshv1.GateVerdict
}

type simWorkload struct {
	ns, name          string
	proxy, stamp      string
	mode              meshv1.RedirectMode
	rollouts          int
	requests, failing float64
}

func newWorld(t *testing.T, n int) *world {
	w := &world{t: t, now: t0, spec: meshv1.MeshInstallationSpec{Version: vFrom}, cpVersion: vFrom, cpReady: true,
		workloads: map[string]*simWorkload{}, failRate: map[string]float64{}, crashAt: map[int]bool{},
		cpRedirect: meshv1.RedirectInitContainer, statusRedirect: meshv1.RedirectInitContainer, failRateMode: map[meshv1.RedirectMode]float64{}}
	for i := 0; i < n; i++ {
		ns := []string{"shop", "pay"}[i%2]
		sw := &simWorkload{ns: ns, name: fmt.Sprintf("app-%d", i), proxy: pFrom, mode: meshv1.RedirectInitContainer}
		w.workloads[KindDeployment+"/"+ns+"/"+sw.name] = sw
	}
	return w
}

func (w *world) facts() Facts {
	f := Facts{Now: w.now, Spec: w.spec, Upgrade: w.upgrade, History: w.history, Supported: supported, ProxyVersions: proxyVersions,
		ControlPlane:    ControlPlane{Version: w.cpVersion, Settled: true, Ready: w.cpReady, Redirect: w.statusRedirect},
		NamespaceLabels: map[string]map[string]string{"shop": {"tier": "shop"}, "pay": {"tier": "pay"}}}
	for key, sw := range w.workloads {
		f.Workloads = append(f.Workloads, Workload{Kind: KindDeployment, Namespace: sw.ns, Name: sw.name, Desired: 1,
			Pods: []Pod{{Name: sw.name + "-1", ProxyVersion: sw.proxy, Ready: true, RestartedAt: sw.stamp, Redirect: sw.mode, Labels: map[string]string{"app": sw.name}}}})
		_ = key
	}
	sort.Slice(f.Workloads, func(i, j int) bool { return f.Workloads[i].Key() < f.Workloads[j].Key() })
	return f
}

func (w *world) reading(scope []string) Reading {
	var sum proxymetrics.Traffic
	for _, key := range scope {
		if sw := w.workloads[key]; sw != nil {
			sum = sum.Add(proxymetrics.Traffic{Requests: sw.requests, Failures: sw.failing, Buckets: []proxymetrics.Bucket{
				{UpperBound: 0.01, Count: sw.requests}, {UpperBound: math.Inf(1), Count: sw.requests}}})
		}
	}
	return Reading{Counters: &sum}
}

// step runs one reconcile and returns its Step.
func (w *world) step() Step {
	w.pass++
	f := w.facts()
	s := Next(f)
	if s.NeedReading {
		f.Reading = w.reading(s.ReadScope)
		s = Next(f)
		if s.NeedReading {
			w.t.Fatalf("pass %d: a reading was given but asked for again: %+v", w.pass, s)
		}
	}
	w.actions = append(w.actions, s.Action)
	if s.Verdict != nil {
		w.verdicts = append(w.verdicts, *s.Verdict)
	}
	// The executor: control plane first, then restarts, then status.
	if s.ControlPlaneVersion != w.cpVersion {
		w.cpVersion = s.ControlPlaneVersion
	}
	w.cpRedirect = s.ControlPlaneRedirect
	if s.Action == ActionRestartWorkloads {
		if len(s.Restart) == 0 || s.RestartAt.IsZero() {
			w.t.Fatalf("pass %d: restart without workloads or time: %+v", w.pass, s)
		}
		for _, key := range s.Restart {
			sw := w.workloads[key]
			if stamp := wl.RestartStamp(s.RestartAt); sw != nil && sw.stamp != stamp {
				sw.stamp, sw.proxy, sw.mode = stamp, proxyVersions[w.cpVersion], w.cpRedirect
				sw.rollouts++
			}
		}
	}
	if !w.crashAt[w.pass] {
		w.upgrade, w.history, w.statusRedirect = s.Upgrade, s.History, w.cpRedirect
	}
	if s.Message == "" {
		w.t.Errorf("pass %d: %s step without a message", w.pass, s.Action)
	}
	dt := s.RecheckAfter
	if dt <= 0 {
		dt = time.Second
	}
	w.advance(dt)
	return s
}

func (w *world) advance(dt time.Duration) {
	w.now = w.now.Add(dt)
	for _, sw := range w.workloads {
		n := requestsPerS * dt.Seconds()
		sw.requests += n
		sw.failing += n * (w.failRate[sw.proxy] + w.failRateMode[sw.mode])
	}
}

// run steps until the upgrade is over (nothing to do, paused on failure, or
// refused) and returns the last step.
func (w *world) run() Step {
	for i := 0; i < 500; i++ {
		s := w.step()
		switch s.Action {
		case ActionNone, ActionRefuse, ActionPause, ActionAwaitApproval:
			return s
		case ActionPaused:
			if w.upgrade != nil && w.upgrade.Phase == PhasePaused {
				return s
			}
		}
	}
	w.t.Fatalf("upgrade did not finish: %v", w.actions)
	return Step{}
}

func (w *world) rollouts() map[string]int {
	out := map[string]int{}
	for key, sw := range w.workloads {
		out[key] = sw.rollouts
	}
	return out
}

func (w *world) proxies() map[string]int {
	out := map[string]int{}
	for _, sw := range w.workloads {
		out[sw.proxy]++
	}
	return out
}

func TestSimulatedUpgradeSucceeds(t *testing.T) {
	w := newWorld(t, 5)
	w.spec.Version = vTo
	w.spec.Upgrade = &meshv1.UpgradeSpec{MaxUnavailable: ptrInt32(2), Gate: &meshv1.GateSpec{BakeWindow: &metav1.Duration{Duration: 30 * time.Second}}}
	last := w.run()
	if w.upgrade == nil || w.upgrade.Phase != PhaseSucceeded || w.cpVersion != vTo {
		t.Fatalf("status %+v, control plane %s, actions %v", w.upgrade, w.cpVersion, w.actions)
	}
	if got := w.proxies(); got[pTo] != 5 {
		t.Fatalf("proxies %v", got)
	}
	for key, n := range w.rollouts() {
		if n != 1 {
			t.Errorf("%s rolled %d times", key, n)
		}
	}
	if len(w.history) != 1 || w.history[0].Result != ResultSucceeded || w.history[0].From != vFrom || w.history[0].To != vTo {
		t.Fatalf("history %+v", w.history)
	}
	// control-plane, canary and rest gates, each judged once.
	var gates []string
	for _, v := range w.verdicts {
		gates = append(gates, v.Gate+"="+v.Reason)
	}
	if strings.Join(gates, ",") != "control-plane=Passed,wave/canary=Passed,wave/rest=Passed" {
		t.Fatalf("verdicts %v", gates)
	}
	if last.Action != ActionNone || last.ControlPlaneVersion != vTo {
		t.Fatalf("after the upgrade: %+v", last)
	}
	// The rest wave had 4 workloads and maxUnavailable 2: two batches.
	restarts := 0
	for _, a := range w.actions {
		if a == ActionRestartWorkloads {
			restarts++
		}
	}
	if restarts != 3 {
		t.Errorf("%d restart steps, want 3 (canary 1, rest 2+2): %v", restarts, w.actions)
	}
}

func TestSimulatedFaultyTargetRollsBack(t *testing.T) {
	w := newWorld(t, 5)
	w.failRate[pTo] = 0.2
	w.spec.Version = vTo
	w.spec.Upgrade = &meshv1.UpgradeSpec{Gate: &meshv1.GateSpec{BakeWindow: &metav1.Duration{Duration: 30 * time.Second}, MinRequests: ptrInt64(100)}}
	w.run()
	if w.upgrade == nil || w.upgrade.Phase != PhaseFailed || w.cpVersion != vFrom {
		t.Fatalf("status %+v, control plane %s, actions %v", w.upgrade, w.cpVersion, w.actions)
	}
	if got := w.proxies(); got[pFrom] != 5 {
		t.Fatalf("every proxy back on %s: %v", pFrom, got)
	}
	canary := w.upgrade.Plan[0].Workloads[0]
	for key, n := range w.rollouts() {
		if want := map[bool]int{true: 2, false: 0}[key == canary]; n != want {
			t.Errorf("%s rolled %d times, want %d", key, n, want)
		}
	}
	v := w.upgrade.LastVerdict
	if v == nil || v.Gate != "wave/canary" || v.Reason != ReasonSuccessRateTooLow || v.SuccessRate != "0.8" {
		t.Fatalf("verdict %+v", v)
	}
	if len(w.history) != 1 || w.history[0].Result != ResultRolledBack || !strings.Contains(w.history[0].Reason, ReasonSuccessRateTooLow) {
		t.Fatalf("history %+v", w.history)
	}
	// Held: the failed target is not retried until acknowledged.
	if s := w.step(); s.Action != ActionNone || s.Reason != ReasonUpgradeFailed || s.ControlPlaneVersion != vFrom {
		t.Fatalf("after the rollback: %+v", s)
	}
	w.spec.Version = vFrom
	if s := w.step(); s.Action != ActionNone || s.Upgrade != nil {
		t.Fatalf("acknowledged: %+v", s)
	}
	w.spec.Version, w.failRate[pTo] = vTo, 0
	if s := w.step(); s.Action != ActionBegin {
		t.Fatalf("retry: %+v", s)
	}
	w.run()
	if w.upgrade.Phase != PhaseSucceeded || len(w.history) != 2 || w.history[0].Result != ResultSucceeded {
		t.Fatalf("retry: %+v %+v", w.upgrade, w.history)
	}
}

// TestSimulatedCrashAtEveryPass loses the status write of each pass in turn
// (the action was carried out, the operator died before writing status): the
// upgrade still ends the same way and no workload rolls more than it must.
func TestSimulatedCrashAtEveryPass(t *testing.T) {
	for _, faulty := range []bool{false, true} {
		setup := func() *world {
			w := newWorld(t, 4)
			w.spec.Version = vTo
			w.spec.Upgrade = &meshv1.UpgradeSpec{Gate: &meshv1.GateSpec{BakeWindow: &metav1.Duration{Duration: 20 * time.Second}, MinRequests: ptrInt64(50)}}
			if faulty {
				w.failRate[pTo] = 0.5
			}
			return w
		}
		clean := setup()
		clean.run()
		passes := clean.pass
		for k := 1; k <= passes; k++ {
			t.Run(fmt.Sprintf("faulty=%v/crash-at-%d", faulty, k), func(t *testing.T) {
				w := setup()
				w.t = t
				w.crashAt[k] = true
				w.run()
				if w.upgrade.Phase != clean.upgrade.Phase || w.cpVersion != clean.cpVersion {
					t.Fatalf("ended %s with control plane %s, want %s/%s; actions %v", w.upgrade.Phase, w.cpVersion,
						clean.upgrade.Phase, clean.cpVersion, w.actions)
				}
				for key, n := range w.rollouts() {
					if n != clean.rollouts()[key] {
						t.Errorf("%s rolled %d times, want %d", key, n, clean.rollouts()[key])
					}
				}
				if len(w.history) != 1 {
					t.Errorf("history %+v", w.history)
				}
			})
		}
	}
}

func TestSimulatedPauseOnFailureThenRollback(t *testing.T) {
	w := newWorld(t, 3)
	w.failRate[pTo] = 1
	w.spec.Version = vTo
	w.spec.Upgrade = &meshv1.UpgradeSpec{OnFailure: meshv1.OnFailurePause, Gate: &meshv1.GateSpec{MinRequests: ptrInt64(10)}}
	s := w.run()
	if s.Action != ActionPause || w.upgrade.Phase != PhasePaused || w.cpVersion != vTo {
		t.Fatalf("paused on failure: %+v / %+v", s, w.upgrade)
	}
	if s = w.step(); s.Action != ActionPaused || s.Reason != ReasonFailedPaused || !strings.Contains(s.Message, "roll back") {
		t.Fatalf("stays paused and says how to go on: %+v", s)
	}
	w.spec.Version = vFrom // the user's decision
	w.run()
	if w.cpVersion != vFrom || w.proxies()[pFrom] != 3 || len(w.history) != 1 || w.history[0].Result != ResultRolledBack {
		t.Fatalf("rolled back on request: cp %s, proxies %v, history %+v, actions %v", w.cpVersion, w.proxies(), w.history, w.actions)
	}
	// spec.version already names the installed version: the failed upgrade is
	// acknowledged at once and only the history keeps it.
	if w.upgrade != nil {
		t.Fatalf("status.upgrade %+v", w.upgrade)
	}
}

func ptrInt32(v int32) *int32 { return &v }
func ptrInt64(v int64) *int64 { return &v }
