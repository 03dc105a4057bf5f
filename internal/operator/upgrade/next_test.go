package upgrade

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	wl "github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

const (
	keyA, keyB, keyC = "Deployment/shop/a", "Deployment/shop/b", "Deployment/shop/c"
)

var (
	forwardStamp = wl.RestartStamp(t0)
	upgradePlan  = []meshv1.PlannedWave{{Name: "canary", Workloads: []string{keyA}}, {Name: "rest", Workloads: []string{keyB, keyC}}}
)

// workload is a one-pod Deployment in shop on a proxy version.
func meshedWorkload(key, proxy string, ready bool, stamp string) Workload {
	_, ns, name, _ := wl.ParseKey(key)
	return Workload{Kind: KindDeployment, Namespace: ns, Name: name, Desired: 1,
		Pods: []Pod{{Name: name + "-1", ProxyVersion: proxy, Ready: ready, RestartedAt: stamp, Labels: map[string]string{"app": name}}}}
}

func counters(requests, failures float64) *proxymetrics.Traffic {
	return &proxymetrics.Traffic{Requests: requests, Failures: failures,
		Buckets: []proxymetrics.Bucket{{UpperBound: 0.01, Count: requests}, {UpperBound: math.Inf(1), Count: requests}}}
}

// inProgress is an upgrade from vFrom to vTo at the given phase and step,
// started at t0, with the step started at t0 too.
func inProgress(phase, step string, wave int32) *meshv1.UpgradeStatus {
	return &meshv1.UpgradeStatus{From: vFrom, To: vTo, Phase: phase, Step: step, CurrentWave: wave,
		Plan: clonePlan(upgradePlan), StartedAt: metav1.NewTime(t0), StepStartedAt: metav1.NewTime(t0)}
}

func clonePlan(p []meshv1.PlannedWave) []meshv1.PlannedWave {
	out := make([]meshv1.PlannedWave, len(p))
	for i, w := range p {
		out[i] = *w.DeepCopy()
	}
	return out
}

// base: spec asks for vTo, the control plane runs vFrom, three workloads on the old proxy.
func base() Facts {
	return Facts{Now: t0.Add(time.Minute), Spec: meshv1.MeshInstallationSpec{Version: vTo}, Supported: supported, ProxyVersions: proxyVersions,
		ControlPlane: ControlPlane{Version: vFrom, Settled: true, Ready: true},
		Workloads:    []Workload{meshedWorkload(keyA, pFrom, true, ""), meshedWorkload(keyB, pFrom, true, ""), meshedWorkload(keyC, pFrom, true, "")}}
}

// afterCP: the control plane runs vTo.
func afterCP(f *Facts) { f.ControlPlane.Version = vTo }

type expect struct {
	action  Action
	reason  string
	phase   string // of the new status; "-" for none
	step    string
	cp      string // ControlPlaneVersion
	restart []string
	evict   []string
	mention string
}

func check(t *testing.T, s Step, e expect) {
	t.Helper()
	if s.Action != e.action {
		t.Fatalf("action %s, want %s (%s)", s.Action, e.action, s.Message)
	}
	if e.reason != "" && s.Reason != e.reason {
		t.Errorf("reason %s, want %s", s.Reason, e.reason)
	}
	switch {
	case e.phase == "-" && s.Upgrade != nil:
		t.Errorf("status.upgrade %+v, want none", s.Upgrade)
	case e.phase != "" && e.phase != "-" && (s.Upgrade == nil || s.Upgrade.Phase != e.phase):
		t.Errorf("status.upgrade %+v, want phase %s", s.Upgrade, e.phase)
	}
	if e.step != "" && (s.Upgrade == nil || s.Upgrade.Step != e.step) {
		t.Errorf("step %+v, want %s", s.Upgrade, e.step)
	}
	if e.cp != "" && s.ControlPlaneVersion != e.cp {
		t.Errorf("control plane %s, want %s", s.ControlPlaneVersion, e.cp)
	}
	if !reflect.DeepEqual(s.Restart, e.restart) {
		t.Errorf("restart %v, want %v", s.Restart, e.restart)
	}
	if !reflect.DeepEqual(s.Evict, e.evict) {
		t.Errorf("evict %v, want %v", s.Evict, e.evict)
	}
	if !strings.Contains(s.Message, e.mention) {
		t.Errorf("message %q lacks %q", s.Message, e.mention)
	}
	if s.Message == "" {
		t.Error("every step explains itself")
	}
}

func TestNextWithoutUpgrade(t *testing.T) {
	cases := []struct {
		name  string
		facts func(f *Facts)
		want  expect
	}{
		{"nothing installed: install spec.version, no upgrade", func(f *Facts) { f.ControlPlane = ControlPlane{} },
			expect{action: ActionNone, phase: "-", cp: vTo, mention: "installing 0.2.0"}},
		{"in sync", func(f *Facts) { f.Spec.Version = vFrom },
			expect{action: ActionNone, phase: "-", cp: vFrom, mention: "0.1.0 is installed"}},
		{"bump: begin, control plane stays until the plan is recorded", func(f *Facts) {},
			expect{action: ActionBegin, reason: ReasonUpgrading, phase: PhaseControlPlane, step: StepUpgrade, cp: vFrom, mention: "canary (1), rest (2)"}},
		{"skipped minor refused, nothing changes", func(f *Facts) { f.Spec.Version = "0.3.0" },
			expect{action: ActionRefuse, reason: SkewSkippedMinor, phase: "-", cp: vFrom, mention: "skips minor version 0.2"}},
		{"unknown version refused", func(f *Facts) { f.Spec.Version = "0.2.9" },
			expect{action: ActionRefuse, reason: SkewUnsupported, phase: "-", cp: vFrom, mention: "not shipped"}},
		{"downgrade refused", func(f *Facts) { f.ControlPlane.Version, f.Spec.Version = vTo, vFrom },
			expect{action: ActionRefuse, reason: SkewDowngrade, phase: "-", cp: vTo}},
		{"downgrade back to the previous version after a success is a staged move", func(f *Facts) {
			f.ControlPlane.Version, f.Spec.Version = vTo, vFrom
			f.Upgrade = inProgress(PhaseSucceeded, "", 1)
		}, expect{action: ActionBegin, phase: PhaseControlPlane, cp: vTo, mention: "upgrading from 0.2.0 to 0.1.0"}},
		{"a previous success is kept while in sync", func(f *Facts) {
			f.ControlPlane.Version = vTo
			f.Upgrade = inProgress(PhaseSucceeded, "", 1)
		}, expect{action: ActionNone, phase: PhaseSucceeded, cp: vTo}},
		{"invalid waves refused", func(f *Facts) {
			f.Spec.Upgrade = &meshv1.UpgradeSpec{Waves: []meshv1.WaveSpec{{Name: "x"}, {Name: "x"}}}
		}, expect{action: ActionRefuse, reason: ReasonInvalidUpgrade, phase: "-", mention: "used twice"}},
		{"invalid gate refused", func(f *Facts) {
			f.Spec.Upgrade = &meshv1.UpgradeSpec{Gate: &meshv1.GateSpec{MinSuccessRate: "2"}}
		}, expect{action: ActionRefuse, reason: ReasonInvalidUpgrade, phase: "-", mention: "minSuccessRate"}},
		{"no meshed workloads: the plan is the control plane alone", func(f *Facts) { f.Workloads = nil },
			expect{action: ActionBegin, phase: PhaseControlPlane, mention: "no meshed workloads"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			tc.facts(&f)
			check(t, Next(f), tc.want)
		})
	}
}

func TestBeginRecordsPlanAndClock(t *testing.T) {
	s := Next(base())
	u := s.Upgrade
	if u.From != vFrom || u.To != vTo || u.CurrentWave != -1 || !u.StartedAt.Equal(&metav1.Time{Time: t0.Add(time.Minute)}) ||
		!reflect.DeepEqual(u.Plan, []meshv1.PlannedWave{{Name: "canary", Workloads: []string{keyA}}, {Name: "rest", Workloads: []string{keyB, keyC}}}) {
		t.Fatalf("begin: %+v", u)
	}
	if s.RecheckAfter <= 0 {
		t.Fatal("a status-only transition asks to look again soon")
	}
}

func TestBaselineForRelativeLatency(t *testing.T) {
	f := base()
	f.Spec.Upgrade = &meshv1.UpgradeSpec{Gate: &meshv1.GateSpec{MaxLatencyP99Ratio: "2"}}
	s := Next(f)
	if !s.NeedReading || s.Action != ActionWait || !reflect.DeepEqual(s.ReadScope, []string{keyA, keyB, keyC}) || s.ReadWindow != time.Minute {
		t.Fatalf("the baseline needs a reading of every meshed workload: %+v", s)
	}
	f.Reading = Reading{Counters: counters(1000, 1)}
	s = Next(f)
	if s.Action != ActionBegin || s.Upgrade.Baseline == nil || s.Upgrade.Baseline.Requests != 1000 || s.Upgrade.Baseline.LatencyP99 == "" {
		t.Fatalf("baseline recorded: %+v", s.Upgrade)
	}
	f.Reading = Reading{Err: errors.New("proxies unreachable")}
	if s = Next(f); s.Action != ActionBegin || s.Upgrade.Baseline != nil || !strings.Contains(s.Message, "no baseline") {
		t.Fatalf("without a reading the upgrade starts, saying the ratio is not checked: %+v", s)
	}
}

func TestManualApproval(t *testing.T) {
	f := base()
	f.Spec.Upgrade = &meshv1.UpgradeSpec{Approval: meshv1.ApprovalManual}
	s := Next(f)
	check(t, s, expect{action: ActionAwaitApproval, reason: ReasonAwaitingApproval, phase: PhaseAwaitingApproval, cp: vFrom,
		mention: "set spec.upgrade.approvedVersion to 0.2.0"})
	if len(s.Upgrade.Plan) != 2 {
		t.Fatal("the plan is published before approval")
	}
	// Later passes keep the same status (no churn).
	f.Upgrade, f.Now = s.Upgrade, f.Now.Add(time.Hour)
	if again := Next(f); !reflect.DeepEqual(again.Upgrade, s.Upgrade) {
		t.Fatalf("awaiting approval must not rewrite status: %+v vs %+v", again.Upgrade, s.Upgrade)
	}
	// Approving another version does not approve this one.
	f.Spec.Upgrade.ApprovedVersion = "0.3.0"
	check(t, Next(f), expect{action: ActionAwaitApproval, phase: PhaseAwaitingApproval})
	f.Spec.Upgrade.ApprovedVersion = vTo
	s = Next(f)
	check(t, s, expect{action: ActionBegin, phase: PhaseControlPlane, cp: vFrom})
	if !s.Upgrade.StartedAt.Equal(&metav1.Time{Time: f.Now}) {
		t.Fatal("the upgrade starts when approved")
	}
	// Withdrawing the bump while awaiting approval drops the pending plan.
	f.Spec.Upgrade.ApprovedVersion, f.Spec.Version = "", vFrom
	check(t, Next(f), expect{action: ActionNone, phase: "-"})
}

func TestControlPlaneStep(t *testing.T) {
	cases := []struct {
		name  string
		facts func(f *Facts)
		want  expect
	}{
		{"recorded: upgrade the control plane", func(f *Facts) {},
			expect{action: ActionUpgradeControlPlane, reason: ReasonUpgrading, phase: PhaseControlPlane, cp: vTo, mention: "upgrading the control plane to 0.2.0"}},
		{"release not settled yet", func(f *Facts) { f.ControlPlane.Version, f.ControlPlane.Settled = vTo, false },
			expect{action: ActionUpgradeControlPlane, cp: vTo}},
		{"helm failed: roll back", func(f *Facts) {
			f.ControlPlane.Failed, f.ControlPlane.Settled, f.ControlPlane.Problem = true, false, "image pull"
		}, expect{action: ActionBeginRollback, reason: ReasonRollingBack, phase: PhaseRollingBack, step: StepControlPlane, cp: vTo, mention: "image pull"}},
		{"upgraded, not ready: wait", func(f *Facts) {
			afterCP(f)
			f.ControlPlane.Ready, f.ControlPlane.Problem = false, "injector not answering"
		}, expect{action: ActionWait, phase: PhaseControlPlane, step: StepUpgrade, cp: vTo, mention: "injector not answering"}},
		{"not ready past the deadline: roll back", func(f *Facts) {
			afterCP(f)
			f.ControlPlane.Ready = false
			f.Now = t0.Add(15 * time.Minute)
		}, expect{action: ActionBeginRollback, phase: PhaseRollingBack, mention: DeadlineExceededMention}},
		{"ready: the bake starts from the counters of every meshed proxy", func(f *Facts) {
			afterCP(f)
			f.Reading = Reading{Counters: counters(500, 0)}
		}, expect{action: ActionStartBake, phase: PhaseControlPlane, step: StepBake, cp: vTo, mention: "control-plane: observing traffic for 1m0s"}},
		{"ready without a reading: ask for one", func(f *Facts) { afterCP(f) },
			expect{action: ActionWait, phase: PhaseControlPlane, step: StepUpgrade}},
		{"counters unreadable: wait", func(f *Facts) {
			afterCP(f)
			f.Reading = Reading{Err: errors.New("3 proxies unreachable")}
		}, expect{action: ActionWait, step: StepUpgrade, mention: "3 proxies unreachable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			f.Upgrade = inProgress(PhaseControlPlane, StepUpgrade, -1)
			tc.facts(&f)
			check(t, Next(f), tc.want)
		})
	}
}

const DeadlineExceededMention = "did not finish within 15m0s"

func TestBake(t *testing.T) {
	bakeStart := CountersFrom(*counters(1000, 0), t0)
	cases := []struct {
		name    string
		status  func() *meshv1.UpgradeStatus
		facts   func(f *Facts)
		want    expect
		verdict string // reason of the verdict reached, "" for none
	}{
		{"window not over: wait until its end", func() *meshv1.UpgradeStatus { return inProgress(PhaseControlPlane, StepBake, -1) },
			func(f *Facts) { f.Now = t0.Add(30 * time.Second) },
			expect{action: ActionWait, step: StepBake, mention: "until 2026-11-25T12:01:00Z"}, ""},
		{"window over, no reading yet: ask", func() *meshv1.UpgradeStatus { return inProgress(PhaseControlPlane, StepBake, -1) },
			func(f *Facts) {}, expect{action: ActionWait, step: StepBake}, ""},
		{"control plane passes: first wave starts", func() *meshv1.UpgradeStatus { return inProgress(PhaseControlPlane, StepBake, -1) },
			func(f *Facts) { f.Reading = Reading{Counters: counters(2000, 2)} },
			expect{action: ActionAdvance, reason: ReasonUpgrading, phase: PhaseWave, step: StepRestart, cp: vTo, mention: "starting wave canary (1/2)"}, ReasonPassed},
		{"idle wave passes, reported as such", func() *meshv1.UpgradeStatus { return inProgress(PhaseWave, StepBake, 0) },
			func(f *Facts) { f.Reading = Reading{Counters: counters(1010, 0)} },
			expect{action: ActionAdvance, phase: PhaseWave, mention: "wave/canary passed (NotEnoughTraffic)"}, ReasonNotEnoughTraffic},
		{"failing wave rolls back", func() *meshv1.UpgradeStatus { return inProgress(PhaseWave, StepBake, 0) },
			func(f *Facts) { f.Reading = Reading{Counters: counters(2000, 100)} },
			expect{action: ActionBeginRollback, phase: PhaseRollingBack, step: StepControlPlane, cp: vTo, mention: "success rate 0.9 is below 0.99"}, ReasonSuccessRateTooLow},
		{"failing wave pauses when asked to", func() *meshv1.UpgradeStatus { return inProgress(PhaseWave, StepBake, 0) },
			func(f *Facts) {
				f.Reading = Reading{Counters: counters(2000, 100)}
				f.Spec.Upgrade = &meshv1.UpgradeSpec{OnFailure: meshv1.OnFailurePause}
			},
			expect{action: ActionPause, reason: ReasonFailedPaused, phase: PhasePaused, step: StepBake, cp: vTo}, ReasonSuccessRateTooLow},
		{"last wave passes: complete", func() *meshv1.UpgradeStatus { return inProgress(PhaseWave, StepBake, 1) },
			func(f *Facts) {
				f.Workloads[1], f.Workloads[2] = meshedWorkload(keyB, pTo, true, forwardStamp), meshedWorkload(keyC, pTo, true, forwardStamp)
				f.Reading = Reading{Counters: counters(2000, 0)}
			},
			expect{action: ActionComplete, reason: ReasonUpgradeSucceeded, phase: PhaseSucceeded, cp: vTo, mention: "upgraded from 0.1.0 to 0.2.0"}, ReasonPassed},
		{"a wave's pod fell back to not ready: wait before judging", func() *meshv1.UpgradeStatus { return inProgress(PhaseWave, StepBake, 0) },
			func(f *Facts) {
				f.Workloads[0] = meshedWorkload(keyA, pTo, false, forwardStamp)
				f.Reading = Reading{Counters: counters(2000, 0)}
			},
			expect{action: ActionWait, step: StepBake, mention: "0/1 pods ready"}, ""},
		{"Prometheus source judges its window measurement", func() *meshv1.UpgradeStatus { return inProgress(PhaseWave, StepBake, 0) },
			func(f *Facts) {
				f.Spec.Upgrade = &meshv1.UpgradeSpec{Gate: &meshv1.GateSpec{Source: meshv1.GateSourcePrometheus, Prometheus: &meshv1.PrometheusGate{URL: "http://p"}}}
				f.Reading = Reading{Window: &Measurement{Requests: 500, SuccessRate: 0.5}}
			},
			expect{action: ActionBeginRollback, phase: PhaseRollingBack}, ReasonSuccessRateTooLow},
		{"bake state lost: start it again", func() *meshv1.UpgradeStatus {
			st := inProgress(PhaseWave, StepBake, 0)
			st.BakeStart = nil
			return st
		}, func(f *Facts) { f.Reading = Reading{Counters: counters(2000, 0)} },
			expect{action: ActionStartBake, step: StepBake}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			afterCP(&f)
			f.Workloads = []Workload{meshedWorkload(keyA, pTo, true, forwardStamp), meshedWorkload(keyB, pFrom, true, ""), meshedWorkload(keyC, pFrom, true, "")}
			f.Upgrade = tc.status()
			if f.Upgrade.Step == StepBake && tc.name != "bake state lost: start it again" {
				f.Upgrade.BakeStart = bakeStart.DeepCopy()
			}
			tc.facts(&f)
			s := Next(f)
			check(t, s, tc.want)
			switch {
			case tc.verdict == "" && s.Verdict != nil:
				t.Errorf("verdict %+v, want none", s.Verdict)
			case tc.verdict != "" && (s.Verdict == nil || s.Verdict.Reason != tc.verdict || s.Upgrade.LastVerdict == nil):
				t.Errorf("verdict %+v, want %s recorded", s.Verdict, tc.verdict)
			}
			if s.Action == ActionWait && s.RecheckAfter <= 0 {
				t.Error("a wait says when to look again")
			}
		})
	}
}

func TestBakeWaitRechecksAtWindowEnd(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Upgrade = inProgress(PhaseControlPlane, StepBake, -1)
	f.Upgrade.BakeStart = &meshv1.TrafficCounters{At: metav1.NewTime(t0)}
	f.Now = t0.Add(45 * time.Second)
	if s := Next(f); s.RecheckAfter != 15*time.Second || s.NeedReading {
		t.Fatalf("recheck %s (reading asked: %v), want the end of the window", s.RecheckAfter, s.NeedReading)
	}
}

func TestWaveRestarts(t *testing.T) {
	pdbBlocking := policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "b-pdb"},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "b"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}}
	cases := []struct {
		name       string
		wave       int32
		restarted  []string
		facts      func(f *Facts)
		want       expect
		restarted2 []string // status Restarted after the step
		blocked    int
	}{
		{"first batch of the canary", 0, nil, func(f *Facts) {},
			expect{action: ActionRestartWorkloads, phase: PhaseWave, step: StepRestart, restart: []string{keyA}, mention: "restarting " + keyA}, []string{keyA}, 0},
		{"restarted, pods rolling: wait", 0, []string{keyA}, func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, pTo, false, forwardStamp)
		}, expect{action: ActionWait, step: StepRestart, mention: "0/1 pods ready"}, []string{keyA}, 0},
		{"restarted but the patch was lost in a crash: re-issue it", 0, []string{keyA}, func(f *Facts) {},
			expect{action: ActionRestartWorkloads, step: StepRestart, restart: []string{keyA}}, []string{keyA}, 0},
		{"restarted pod came up unmeshed (injector failed open): evict it", 0, []string{keyA}, func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, "", true, forwardStamp)
		}, expect{action: ActionRestartWorkloads, step: StepRestart, evict: []string{"shop/a-1"}, mention: "evicting pods off target shop/a-1"}, []string{keyA}, 0},
		{"restarted pod came up on the old proxy: evict it", 0, []string{keyA}, func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, pFrom, true, forwardStamp)
		}, expect{action: ActionRestartWorkloads, step: StepRestart, evict: []string{"shop/a-1"}}, []string{keyA}, 0},
		{"an unmeshed pod being deleted is not evicted again", 0, []string{keyA}, func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, pTo, true, forwardStamp)
			f.Workloads[0].Pods = append(f.Workloads[0].Pods, Pod{Name: "a-2", RestartedAt: forwardStamp, Terminating: true})
		}, expect{action: ActionWait, step: StepRestart, mention: "1 old pods terminating"}, []string{keyA}, 0},
		{"rolled: bake", 0, []string{keyA}, func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, pTo, true, forwardStamp)
			f.Reading = Reading{Counters: counters(10, 0)}
		}, expect{action: ActionStartBake, step: StepBake}, []string{keyA}, 0},
		{"second wave, maxUnavailable 1: one at a time", 1, nil, func(f *Facts) {},
			expect{action: ActionRestartWorkloads, restart: []string{keyB}}, []string{keyB}, 0},
		{"second wave, maxUnavailable 2: both", 1, nil, func(f *Facts) { f.Spec.Upgrade = &meshv1.UpgradeSpec{MaxUnavailable: ptrInt32(2)} },
			expect{action: ActionRestartWorkloads, restart: []string{keyB, keyC}}, []string{keyB, keyC}, 0},
		{"one in flight fills the single slot", 1, []string{keyB}, func(f *Facts) {
			f.Workloads[1] = meshedWorkload(keyB, pTo, false, forwardStamp)
		}, expect{action: ActionWait, mention: "1/2 workloads restarted"}, []string{keyB}, 0},
		{"a workload already on the new proxy needs no restart", 1, nil, func(f *Facts) {
			f.Workloads[1] = meshedWorkload(keyB, pTo, true, "")
		}, expect{action: ActionRestartWorkloads, restart: []string{keyC}}, []string{keyB, keyC}, 0},
		{"a vanished workload is skipped", 1, nil, func(f *Facts) {
			f.Workloads = f.Workloads[:2]
		}, expect{action: ActionRestartWorkloads, restart: []string{keyB}}, []string{keyB, keyC}, 0},
		{"a PDB allowing no disruption holds its workload, others go on", 1, nil, func(f *Facts) {
			f.PDBs = []policyv1.PodDisruptionBudget{pdbBlocking}
		}, expect{action: ActionRestartWorkloads, restart: []string{keyC}, mention: "b-pdb allows no disruption"}, []string{keyC}, 1},
		{"only the PDB-held workload left: wait", 1, []string{keyC}, func(f *Facts) {
			f.PDBs = []policyv1.PodDisruptionBudget{pdbBlocking}
			f.Workloads[2] = meshedWorkload(keyC, pTo, true, forwardStamp)
		}, expect{action: ActionWait, mention: "blocked"}, []string{keyC}, 1},
		{"PDB-held past the deadline: roll back", 1, []string{keyC}, func(f *Facts) {
			f.PDBs = []policyv1.PodDisruptionBudget{pdbBlocking}
			f.Workloads[2] = meshedWorkload(keyC, pTo, true, forwardStamp)
			f.Now = t0.Add(time.Hour)
		}, expect{action: ActionBeginRollback, phase: PhaseRollingBack, mention: "b-pdb"}, []string{keyC}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			afterCP(&f)
			if tc.wave == 1 {
				f.Workloads[0] = meshedWorkload(keyA, pTo, true, forwardStamp)
			}
			f.Upgrade = inProgress(PhaseWave, StepRestart, tc.wave)
			f.Upgrade.Plan[tc.wave].Restarted = tc.restarted
			tc.facts(&f)
			s := Next(f)
			check(t, s, tc.want)
			if got := s.Upgrade.Plan[tc.wave].Restarted; !reflect.DeepEqual(got, tc.restarted2) {
				t.Errorf("restarted %v, want %v", got, tc.restarted2)
			}
			if len(s.Blocked) != tc.blocked {
				t.Errorf("blocked %v", s.Blocked)
			}
			if s.Action == ActionRestartWorkloads && !s.RestartAt.Equal(t0) {
				t.Errorf("forward restarts are stamped with the upgrade's start, got %s", s.RestartAt)
			}
		})
	}
}

func TestNewBatchRestartsTheStepClock(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Workloads[0] = meshedWorkload(keyA, pTo, true, forwardStamp)
	f.Upgrade = inProgress(PhaseWave, StepRestart, 1)
	f.Upgrade.Plan[1].Restarted = []string{keyB}
	f.Workloads[1] = meshedWorkload(keyB, pTo, true, forwardStamp)
	f.Now = t0.Add(14 * time.Minute)
	s := Next(f)
	if s.Action != ActionRestartWorkloads || !s.Upgrade.StepStartedAt.Equal(&metav1.Time{Time: f.Now}) {
		t.Fatalf("a new batch restarts the deadline clock: %+v", s.Upgrade)
	}
}

func TestPaused(t *testing.T) {
	for _, pause := range []func(f *Facts){
		func(f *Facts) { f.Spec.Paused = true },
		func(f *Facts) { f.Spec.Upgrade = &meshv1.UpgradeSpec{Paused: true} },
	} {
		f := base()
		afterCP(&f)
		f.Upgrade = inProgress(PhaseWave, StepRestart, 0)
		pause(&f)
		s := Next(f)
		check(t, s, expect{action: ActionPaused, reason: ReasonUpgradePaused, phase: PhaseWave, step: StepRestart, cp: vTo, mention: "before the restart step of wave canary"})
		if !s.Upgrade.StepStartedAt.IsZero() {
			t.Fatal("a pause stops the step clock")
		}
		// Resumed an hour later: the step gets a fresh deadline and goes on.
		f = base()
		afterCP(&f)
		f.Upgrade, f.Now = s.Upgrade, t0.Add(time.Hour)
		s = Next(f)
		check(t, s, expect{action: ActionRestartWorkloads, restart: []string{keyA}})
		if !s.Upgrade.StepStartedAt.Equal(&metav1.Time{Time: f.Now}) {
			t.Fatalf("resumed step clock %s", s.Upgrade.StepStartedAt)
		}
	}
	// Paused before anything happened: Begin is recorded, then nothing.
	f := base()
	f.Spec.Upgrade = &meshv1.UpgradeSpec{Paused: true}
	s := Next(f)
	f.Upgrade = s.Upgrade
	check(t, Next(f), expect{action: ActionPaused, cp: vFrom, phase: PhaseControlPlane})
}

func TestVersionChangesDuringUpgrade(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Upgrade = inProgress(PhaseWave, StepRestart, 0)
	f.Spec.Version = "0.3.0"
	s := Next(f)
	check(t, s, expect{action: ActionRefuse, reason: ReasonUpgradeInProgress, phase: PhaseWave, cp: vTo, mention: "set spec.version to 0.2.0 to continue or to 0.1.0 to roll back"})
	if s.Upgrade.Message != s.Message {
		t.Error("the refusal shows in status")
	}
	f.Spec.Version = vFrom
	s = Next(f)
	check(t, s, expect{action: ActionBeginRollback, phase: PhaseRollingBack, cp: vTo, mention: "spec.version was set back to 0.1.0"})
	if s.Verdict == nil || s.Verdict.Reason != ReasonRollbackRequested || s.Verdict.Gate != "wave/canary" {
		t.Fatalf("verdict %+v", s.Verdict)
	}
}

func TestPausedOnFailure(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Spec.Upgrade = &meshv1.UpgradeSpec{OnFailure: meshv1.OnFailurePause}
	f.Upgrade = inProgress(PhasePaused, StepBake, 0)
	f.Upgrade.LastVerdict = &meshv1.GateVerdict{Gate: "wave/canary", Reason: ReasonLatencyTooHigh, Message: "p99 2s", At: metav1.NewTime(t0)}
	f.Now = t0.Add(24 * time.Hour)
	check(t, Next(f), expect{action: ActionPaused, reason: ReasonFailedPaused, phase: PhasePaused, cp: vTo, mention: "wave/canary failed (LatencyTooHigh: p99 2s)"})
	// Paused after a failed control-plane upgrade: the control plane is held where it is.
	held := f
	held.ControlPlane = ControlPlane{Version: vFrom, Failed: true}
	held.Upgrade = inProgress(PhasePaused, StepUpgrade, -1)
	check(t, Next(held), expect{action: ActionPaused, phase: PhasePaused, cp: vFrom})
	f.Spec.Upgrade.OnFailure = meshv1.OnFailureRollback
	s := Next(f)
	check(t, s, expect{action: ActionBeginRollback, phase: PhaseRollingBack, cp: vTo, mention: "LatencyTooHigh"})
	if s.Upgrade.LastVerdict.Reason != ReasonLatencyTooHigh {
		t.Fatal("the failing verdict is kept as the rollback's reason")
	}
}

func TestRollback(t *testing.T) {
	failedAt := t0.Add(5 * time.Minute)
	rolling := func(step string) *meshv1.UpgradeStatus {
		st := inProgress(PhaseRollingBack, step, 0)
		st.StepStartedAt = metav1.NewTime(failedAt)
		st.Plan[0].Restarted = []string{keyA}
		st.LastVerdict = &meshv1.GateVerdict{Gate: "wave/canary", Reason: ReasonSuccessRateTooLow, Message: "0.5 < 0.99", At: metav1.NewTime(failedAt)}
		return st
	}
	withRollbackWave := func(restarted ...string) *meshv1.UpgradeStatus {
		st := rolling(StepRestart)
		st.Plan = append(st.Plan, meshv1.PlannedWave{Name: RollbackWave, Workloads: []string{keyA}, Restarted: restarted})
		return st
	}
	rbStamp := wl.RestartStamp(failedAt)
	cases := []struct {
		name   string
		status *meshv1.UpgradeStatus
		facts  func(f *Facts)
		want   expect
	}{
		{"control plane still new: roll it back", rolling(StepControlPlane), func(f *Facts) { afterCP(f) },
			expect{action: ActionRollbackControlPlane, reason: ReasonRollingBack, phase: PhaseRollingBack, cp: vFrom, mention: "rolling the control plane back to 0.1.0"}},
		{"control plane back, not ready: wait", rolling(StepControlPlane), func(f *Facts) { f.ControlPlane.Ready = false },
			expect{action: ActionWait, cp: vFrom, step: StepControlPlane}},
		{"control plane back: list the workloads on the new proxy", rolling(StepControlPlane), func(f *Facts) {},
			expect{action: ActionAdvance, phase: PhaseRollingBack, step: StepRestart, cp: vFrom, mention: "restarting 1 workloads back to proxy proxy-1"}},
		{"restart them back with the rollback's stamp", withRollbackWave(), func(f *Facts) {},
			expect{action: ActionRestartWorkloads, step: StepRestart, cp: vFrom, restart: []string{keyA}}},
		{"a workload that picked up the new proxy meanwhile joins", withRollbackWave(keyA), func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, pFrom, true, rbStamp)
			f.Workloads[2] = meshedWorkload(keyC, pTo, true, "")
		}, expect{action: ActionRestartWorkloads, restart: []string{keyC}}},
		{"a pod restarted back but unmeshed is evicted, not counted as back", withRollbackWave(keyA), func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, "", true, rbStamp)
		}, expect{action: ActionRestartWorkloads, step: StepRestart, evict: []string{"shop/a-1"}, mention: "0/1 pods meshed off proxy"}},
		{"all back: rolled back", withRollbackWave(keyA), func(f *Facts) { f.Workloads[0] = meshedWorkload(keyA, pFrom, true, rbStamp) },
			expect{action: ActionRolledBack, reason: ReasonRolledBack, phase: PhaseFailed, cp: vFrom, mention: "rolled back to 0.1.0: SuccessRateTooLow: 0.5 < 0.99"}},
		{"control plane cannot go back: failed", rolling(StepControlPlane), func(f *Facts) {
			afterCP(f)
			f.ControlPlane.Settled, f.ControlPlane.Failed, f.ControlPlane.Problem = false, true, "chart error"
		}, expect{action: ActionFail, reason: ReasonUpgradeFailed, phase: PhaseFailed, mention: "chart error"}},
		{"rollback past its deadline: failed", withRollbackWave(keyA), func(f *Facts) {
			f.Workloads[0] = meshedWorkload(keyA, pFrom, false, rbStamp)
			f.Now = failedAt.Add(16 * time.Minute)
		}, expect{action: ActionFail, reason: ReasonUpgradeFailed, phase: PhaseFailed, mention: "did not finish within 15m0s"}},
		{"a pause halts the rollback too", withRollbackWave(), func(f *Facts) { f.Spec.Paused = true },
			expect{action: ActionPaused, phase: PhaseRollingBack, cp: vFrom}},
		{"spec.version is not consulted while rolling back", rolling(StepControlPlane), func(f *Facts) {
			afterCP(f)
			f.Spec.Version = "0.3.0"
		}, expect{action: ActionRollbackControlPlane, cp: vFrom}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			f.Workloads[0] = meshedWorkload(keyA, pTo, true, forwardStamp)
			f.Upgrade = tc.status
			f.Now = failedAt.Add(time.Minute)
			tc.facts(&f)
			s := Next(f)
			check(t, s, tc.want)
			if s.Action == ActionRestartWorkloads && wl.RestartStamp(s.RestartAt) != rbStamp {
				t.Errorf("rollback restarts use the rollback's stamp, got %s", s.RestartAt)
			}
			if s.Upgrade.Phase == PhaseFailed {
				want := map[Action]string{ActionRolledBack: ResultRolledBack, ActionFail: ResultFailed}[s.Action]
				if len(s.History) != 1 || s.History[0].Result != want || s.History[0].From != vFrom {
					t.Errorf("history %+v, want %s", s.History, want)
				}
			}
		})
	}
}

func TestFailedUpgradeIsHeldUntilAcknowledged(t *testing.T) {
	f := base()
	f.Upgrade = inProgress(PhaseFailed, "", 0)
	check(t, Next(f), expect{action: ActionNone, reason: ReasonUpgradeFailed, phase: PhaseFailed, cp: vFrom,
		mention: "set spec.version to 0.1.0 to acknowledge, then to 0.2.0 to retry"})
	f.Spec.Version = vFrom
	check(t, Next(f), expect{action: ActionNone, phase: "-", cp: vFrom})
	// A rollback that stalled with the new control plane in place stays visible.
	f = base()
	afterCP(&f)
	f.Upgrade = inProgress(PhaseFailed, "", 0)
	check(t, Next(f), expect{action: ActionNone, phase: PhaseFailed, cp: vTo})
	// ...and going back to the previous version from there is allowed.
	f.Spec.Version = vFrom
	check(t, Next(f), expect{action: ActionBegin, phase: PhaseControlPlane, cp: vTo, mention: "upgrading from 0.2.0 to 0.1.0"})
}

func TestHistoryBoundedNewestFirstOnce(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Workloads = []Workload{meshedWorkload(keyA, pTo, true, forwardStamp), meshedWorkload(keyB, pTo, true, forwardStamp), meshedWorkload(keyC, pTo, true, forwardStamp)}
	f.Upgrade = inProgress(PhaseWave, StepBake, 1)
	bs := CountersFrom(*counters(0, 0), t0)
	f.Upgrade.BakeStart = &bs
	f.Reading = Reading{Counters: counters(1000, 0)}
	for i := 0; i < meshv1.MaxUpgradeHistory; i++ {
		f.History = append(f.History, meshv1.UpgradeRecord{From: "0.0.1", To: "0.0.2", Result: ResultSucceeded, StartedAt: metav1.NewTime(t0.Add(-time.Duration(i+1) * time.Hour))})
	}
	s := Next(f)
	if s.Action != ActionComplete || len(s.History) != meshv1.MaxUpgradeHistory || s.History[0].To != vTo ||
		s.History[len(s.History)-1].StartedAt.Time != t0.Add(-9*time.Hour) {
		t.Fatalf("history %+v", s.History)
	}
	// Completing again (status write lost) does not record twice.
	f.History = s.History
	if again := Next(f); !reflect.DeepEqual(again.History, s.History) {
		t.Fatal("the same upgrade recorded twice")
	}
}

func TestStatusIsStableWhileWaiting(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Upgrade = inProgress(PhaseWave, StepRestart, 0)
	f.Upgrade.Plan[0].Restarted = []string{keyA}
	f.Workloads[0] = meshedWorkload(keyA, pTo, false, forwardStamp)
	s := Next(f)
	f.Upgrade, f.Now = s.Upgrade, f.Now.Add(10*time.Second)
	if again := Next(f); !reflect.DeepEqual(again.Upgrade, s.Upgrade) {
		t.Fatalf("waiting rewrote status:\n%+v\n%+v", s.Upgrade, again.Upgrade)
	}
}

func TestNextDoesNotMutateItsFacts(t *testing.T) {
	f := base()
	afterCP(&f)
	f.Upgrade = inProgress(PhaseWave, StepRestart, 1)
	before := f.Upgrade.DeepCopy()
	Next(f)
	if !reflect.DeepEqual(before, f.Upgrade) {
		t.Fatal("Next changed the status it was given")
	}
}

func TestInProgressAndGatesControlPlane(t *testing.T) {
	for phase, want := range map[string][2]bool{
		PhaseAwaitingApproval: {false, false}, PhaseControlPlane: {true, true}, PhaseWave: {true, false},
		PhaseRollingBack: {true, true}, PhasePaused: {true, false}, PhaseSucceeded: {false, false}, PhaseFailed: {false, false},
	} {
		st := &meshv1.UpgradeStatus{Phase: phase}
		if got := [2]bool{InProgress(st), GatesControlPlane(st)}; got != want {
			t.Errorf("%s: in progress, gates control plane = %v, want %v", phase, got, want)
		}
	}
	if InProgress(nil) || GatesControlPlane(nil) {
		t.Error("no upgrade is neither")
	}
}

// A wave's proxy whose admin port cannot be read (a NetworkPolicy) cannot
// hold the wave forever: the gate waits naming the pod, then the step
// deadline fails it, still naming the pod.
func TestUnreadableProxyCannotHangAWave(t *testing.T) {
	bakeStart := CountersFrom(*counters(1000, 0), t0)
	reading := func() Reading {
		_, err := SumReports([]proxymetrics.PodReport{
			{Pod: types.NamespacedName{Namespace: "shop", Name: "a-1"}, Report: proxymetrics.Report{Inbound: *counters(2000, 0)}},
			{Pod: types.NamespacedName{Namespace: "shop", Name: "a-2"}, Err: errors.New("dial tcp 10.0.0.7:4191: i/o timeout")},
		})
		return Reading{Err: err}
	}
	for _, tc := range []struct {
		name string
		now  time.Duration
		want expect
	}{
		{"within the step deadline: wait, naming the pod", 5 * time.Minute,
			expect{action: ActionWait, step: StepBake, mention: "shop/a-2"}},
		{"past the step deadline: the step fails, naming the pod", defaultStepDeadline,
			expect{action: ActionBeginRollback, phase: PhaseRollingBack, cp: vTo, mention: "shop/a-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			afterCP(&f)
			f.Upgrade = inProgress(PhaseWave, StepBake, 0)
			f.Upgrade.BakeStart = &bakeStart
			f.Workloads[0] = meshedWorkload(keyA, pTo, true, forwardStamp)
			f.Now, f.Reading = t0.Add(tc.now), reading()
			s := Next(f)
			check(t, s, tc.want)
			if tc.want.action == ActionBeginRollback && (s.Verdict == nil || s.Verdict.Reason != ReasonDeadlineExceeded) {
				t.Fatalf("verdict %+v, want %s", s.Verdict, ReasonDeadlineExceeded)
			}
		})
	}
}
