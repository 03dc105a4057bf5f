package upgrade

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	wl "github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

const (
	modeInit = meshv1.RedirectInitContainer
	modeCNI  = meshv1.RedirectCNI
)

// inMode is a one-pod workload on proxy pFrom whose pod runs a redirect mode.
func inMode(key string, mode meshv1.RedirectMode, ready bool, stamp string) Workload {
	w := meshedWorkload(key, pFrom, ready, stamp)
	w.Pods[0].Redirect = mode
	return w
}

// switchBase: vFrom installed with init containers, the spec asks for CNI
// at the same version, three workloads in InitContainer mode.
func switchBase() Facts {
	f := base()
	f.Spec.Version, f.Spec.DataPlane.Redirect = vFrom, modeCNI
	f.ControlPlane.Redirect = modeInit
	f.Workloads = []Workload{inMode(keyA, modeInit, true, ""), inMode(keyB, modeInit, true, ""), inMode(keyC, modeInit, true, "")}
	return f
}

func switching(phase, step string, wave int32) *meshv1.UpgradeStatus {
	st := inProgress(phase, step, wave)
	st.To, st.RedirectFrom, st.RedirectTo = vFrom, modeInit, modeCNI
	return st
}

func TestRedirectSwitch(t *testing.T) {
	failedAt := t0.Add(5 * time.Minute)
	rollingBack := func(withWave bool, restarted ...string) *meshv1.UpgradeStatus {
		st := switching(PhaseRollingBack, StepControlPlane, 0)
		st.StepStartedAt = metav1.NewTime(failedAt)
		st.LastVerdict = &meshv1.GateVerdict{Gate: "wave/canary", Reason: ReasonRollbackRequested, At: metav1.NewTime(failedAt)}
		if withWave {
			st.Step = StepRestart
			st.Plan = append(st.Plan, meshv1.PlannedWave{Name: RollbackWave, Workloads: []string{keyA}, Restarted: restarted})
		}
		return st
	}
	rbStamp := wl.RestartStamp(failedAt)
	cases := []struct {
		name     string
		status   *meshv1.UpgradeStatus
		facts    func(f *Facts)
		want     expect
		redirect meshv1.RedirectMode // the step's ControlPlaneRedirect
	}{
		{"no change: nothing to do", nil, func(f *Facts) { f.Spec.DataPlane.Redirect = modeInit },
			expect{action: ActionNone, phase: "-", cp: vFrom, mention: "is installed"}, modeInit},
		{"an unset mode is InitContainer on both sides", nil, func(f *Facts) { f.Spec.DataPlane.Redirect, f.ControlPlane.Redirect = "", "" },
			expect{action: ActionNone, phase: "-", cp: vFrom}, modeInit},
		{"a switch begins as an upgrade at the same version, the control plane held until recorded", nil, func(f *Facts) {},
			expect{action: ActionBegin, reason: ReasonUpgrading, phase: PhaseControlPlane, step: StepUpgrade, cp: vFrom,
				mention: "redirect switch from InitContainer to CNI (mesh 0.1.0): control plane, then"}, modeInit},
		{"a Manual switch waits for approval with the old mode", nil, func(f *Facts) {
			f.Spec.Upgrade = &meshv1.UpgradeSpec{Approval: meshv1.ApprovalManual, ApprovedVersion: "0.0.9"}
		}, expect{action: ActionAwaitApproval, phase: PhaseAwaitingApproval, mention: "redirect switch from InitContainer to CNI"}, modeInit},
		{"recorded: the control plane moves to CNI", switching(PhaseControlPlane, StepUpgrade, -1), func(f *Facts) {},
			expect{action: ActionUpgradeControlPlane, cp: vFrom, mention: "0.1.0 with redirect CNI"}, modeCNI},
		{"control plane on CNI, its gate not passed: wait", switching(PhaseControlPlane, StepUpgrade, -1), func(f *Facts) {
			f.ControlPlane.Redirect, f.ControlPlane.Ready, f.ControlPlane.Problem = modeCNI, false, "CNI plugin updated on 1/3 nodes"
		}, expect{action: ActionWait, mention: "CNI plugin updated on 1/3 nodes"}, modeCNI},
		{"control plane on CNI and ready: bake", switching(PhaseControlPlane, StepUpgrade, -1), func(f *Facts) { f.ControlPlane.Redirect = modeCNI },
			expect{action: actionBakeStarts, phase: PhaseControlPlane}, modeCNI},
		{"a wave restarts pods in the old mode though their proxy is current", switching(PhaseWave, StepRestart, 0), func(f *Facts) {
			f.ControlPlane.Redirect = modeCNI
		}, expect{action: ActionRestartWorkloads, restart: []string{keyA}, mention: "wave canary"}, modeCNI},
		{"a restarted pod still in the old mode is evicted", switching(PhaseWave, StepRestart, 0), func(f *Facts) {
			f.ControlPlane.Redirect = modeCNI
			f.Upgrade.Plan[0].Restarted = []string{keyA}
			f.Workloads[0] = inMode(keyA, modeInit, true, forwardStamp)
		}, expect{action: ActionRestartWorkloads, evict: []string{"shop/a-1"}, mention: "with redirect CNI"}, modeCNI},
		{"pods in the new mode are on target", switching(PhaseWave, StepRestart, 0), func(f *Facts) {
			f.ControlPlane.Redirect = modeCNI
			f.Upgrade.Plan[0].Restarted = []string{keyA}
			f.Workloads[0] = inMode(keyA, modeCNI, true, forwardStamp)
		}, expect{action: actionBakeStarts, phase: PhaseWave}, modeCNI},
		{"the mode set back mid-switch rolls back", switching(PhaseWave, StepRestart, 0), func(f *Facts) {
			f.ControlPlane.Redirect, f.Spec.DataPlane.Redirect = modeCNI, modeInit
		}, expect{action: ActionBeginRollback, phase: PhaseRollingBack, mention: "spec.dataPlane.redirect was set back to InitContainer"}, modeCNI},
		{"a version bump mid-switch is refused", switching(PhaseWave, StepRestart, 0), func(f *Facts) {
			f.ControlPlane.Redirect, f.Spec.Version = modeCNI, vTo
		}, expect{action: ActionRefuse, reason: ReasonUpgradeInProgress}, modeCNI},
		{"a redirect change mid-version-upgrade is refused", inProgress(PhaseWave, StepRestart, 0), func(f *Facts) {
			afterCP(f)
			f.Spec.Version = vTo
		}, expect{action: ActionRefuse, reason: ReasonUpgradeInProgress, mention: "spec.dataPlane.redirect CNI refused"}, modeInit},
		{"rollback: the control plane returns to the old mode", rollingBack(false), func(f *Facts) { f.ControlPlane.Redirect = modeCNI },
			expect{action: ActionRollbackControlPlane, cp: vFrom}, modeInit},
		{"rollback: back in the old mode, not ready (plugin or Deployments): wait", rollingBack(false), func(f *Facts) { f.ControlPlane.Ready = false },
			expect{action: ActionWait, step: StepControlPlane}, modeInit},
		{"rollback: the workloads in the new mode go back", rollingBack(false), func(f *Facts) {
			f.Workloads[0] = inMode(keyA, modeCNI, true, forwardStamp)
		}, expect{action: ActionAdvance, step: StepRestart, mention: "restarting 1 workloads back"}, modeInit},
		{"rollback: restart them back", rollingBack(true), func(f *Facts) { f.Workloads[0] = inMode(keyA, modeCNI, true, forwardStamp) },
			expect{action: ActionRestartWorkloads, restart: []string{keyA}}, modeInit},
		{"rollback: all back in the old mode", rollingBack(true, keyA), func(f *Facts) { f.Workloads[0] = inMode(keyA, modeInit, true, rbStamp) },
			expect{action: ActionRolledBack, phase: PhaseFailed, mention: "redirect switch from InitContainer to CNI (mesh 0.1.0) rolled back to InitContainer"}, modeInit},
		{"a rolled-back switch is held until acknowledged", func() *meshv1.UpgradeStatus {
			st := switching(PhaseFailed, "", 0)
			return st
		}(), func(f *Facts) {}, expect{action: ActionNone, reason: ReasonUpgradeFailed, mention: "set spec.dataPlane.redirect to InitContainer to acknowledge"}, modeInit},
		{"a rolled-back switch, acknowledged: cleared", switching(PhaseFailed, "", 0), func(f *Facts) { f.Spec.DataPlane.Redirect = modeInit },
			expect{action: ActionNone, phase: "-", mention: "is installed"}, modeInit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := switchBase()
			f.Upgrade = tc.status
			if tc.status != nil && tc.status.Phase == PhaseRollingBack {
				f.Now = failedAt.Add(time.Minute)
			}
			tc.facts(&f)
			s := Next(f)
			if tc.want.action == actionBakeStarts {
				if !s.NeedReading && s.Action != ActionStartBake {
					t.Fatalf("action %s (%s), want a bake to start", s.Action, s.Message)
				}
				tc.want.action = s.Action
			}
			check(t, s, tc.want)
			if s.ControlPlaneRedirect != tc.redirect {
				t.Errorf("control plane redirect %s, want %s", s.ControlPlaneRedirect, tc.redirect)
			}
			if s.Action == ActionBegin && (s.Upgrade.RedirectFrom != modeInit || s.Upgrade.RedirectTo != modeCNI || s.Upgrade.From != vFrom || s.Upgrade.To != vFrom) {
				t.Errorf("status.upgrade %+v, want a switch InitContainer → CNI at %s", s.Upgrade, vFrom)
			}
			if s.Action == ActionRolledBack && (len(s.History) != 1 || s.History[0].RedirectTo != modeCNI || s.History[0].Result != ResultRolledBack) {
				t.Errorf("history %+v", s.History)
			}
		})
	}
}

// A version bump that leaves the mode alone records no switch.
func TestVersionBumpRecordsNoSwitch(t *testing.T) {
	f := base()
	f.ControlPlane.Redirect = modeInit
	s := Next(f)
	if s.Action != ActionBegin || s.Upgrade.RedirectFrom != "" || s.Upgrade.RedirectTo != "" || s.ControlPlaneRedirect != modeInit {
		t.Fatalf("step %s %+v redirect %s", s.Action, s.Upgrade, s.ControlPlaneRedirect)
	}
}

func TestPodRedirect(t *testing.T) {
	cni := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{contract.CNIRedirectAnnotation: "15001"}}}
	init := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.ProxyInitContainerName}, {Name: contract.ProxyContainerName}}}}
	neither := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.ProxyContainerName}}}}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want meshv1.RedirectMode
	}{{cni, modeCNI}, {init, modeInit}, {neither, ""}} {
		if got := PodRedirect(tc.pod); got != tc.want {
			t.Errorf("PodRedirect = %q, want %q", got, tc.want)
		}
	}
}

// actionBakeStarts stands for "a bake starts" in a case: StartBake, or the
// reading of the counters it starts from (the Proxies source asks first).
const actionBakeStarts Action = "test:bake-starts"
