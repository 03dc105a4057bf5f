package upgrade

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

func (w *world) modes() map[meshv1.RedirectMode]int {
	out := map[meshv1.RedirectMode]int{}
	for _, sw := range w.workloads {
		out[sw.mode]++
	}
	return out
}

// A redirect switch, with the status write of each pass lost in turn, ends
// as without crashes: switched (or, when the new mode fails traffic, rolled
// back) with every workload rolled as often as it must, no more.
func TestSimulatedRedirectSwitchCrashAtEveryPass(t *testing.T) {
	for _, faulty := range []bool{false, true} {
		setup := func() *world {
			w := newWorld(t, 4)
			w.spec.DataPlane.Redirect = meshv1.RedirectCNI
			w.spec.Upgrade = &meshv1.UpgradeSpec{Gate: &meshv1.GateSpec{BakeWindow: &metav1.Duration{Duration: 20 * time.Second}, MinRequests: ptrInt64(50)}}
			if faulty {
				w.failRateMode[meshv1.RedirectCNI] = 0.5
			}
			return w
		}
		clean := setup()
		clean.run()
		wantPhase, wantMode := PhaseSucceeded, meshv1.RedirectCNI
		if faulty {
			wantPhase, wantMode = PhaseFailed, meshv1.RedirectInitContainer
		}
		if clean.upgrade == nil || clean.upgrade.Phase != wantPhase || clean.cpRedirect != wantMode || clean.modes()[wantMode] != 4 ||
			clean.upgrade.RedirectTo != meshv1.RedirectCNI || clean.cpVersion != vFrom {
			t.Fatalf("faulty=%v: ended %+v, control plane %s/%s, pods %v, actions %v", faulty, clean.upgrade, clean.cpVersion, clean.cpRedirect, clean.modes(), clean.actions)
		}
		endPhase, endRedirect, endRollouts := clean.upgrade.Phase, clean.cpRedirect, clean.rollouts()
		for key, n := range endRollouts {
			canary := clean.upgrade.Plan[0].Workloads[0]
			want := 1
			if faulty {
				want = map[bool]int{true: 2, false: 0}[key == canary]
			}
			if n != want {
				t.Errorf("faulty=%v: %s rolled %d times, want %d", faulty, key, n, want)
			}
		}
		passes := clean.pass
		if faulty { // held until acknowledged, then retried
			if s := clean.step(); s.Action != ActionNone || s.Reason != ReasonUpgradeFailed || s.ControlPlaneRedirect != meshv1.RedirectInitContainer {
				t.Fatalf("after the rollback: %+v", s)
			}
			clean.spec.DataPlane.Redirect = meshv1.RedirectInitContainer
			if s := clean.step(); s.Action != ActionNone || s.Reason != "" {
				t.Fatalf("acknowledged: %+v", s)
			}
			clean.spec.DataPlane.Redirect, clean.failRateMode[meshv1.RedirectCNI] = meshv1.RedirectCNI, 0
			if s := clean.step(); s.Action != ActionBegin {
				t.Fatalf("retry: %+v", s)
			}
			clean.run()
			if clean.upgrade.Phase != PhaseSucceeded || clean.modes()[meshv1.RedirectCNI] != 4 || len(clean.history) != 2 {
				t.Fatalf("retry: %+v %+v", clean.upgrade, clean.history)
			}
		}
		for k := 1; k <= passes; k++ {
			t.Run(fmt.Sprintf("faulty=%v/crash-at-%d", faulty, k), func(t *testing.T) {
				w := setup()
				w.t = t
				w.crashAt[k] = true
				w.run()
				if w.upgrade.Phase != endPhase || w.cpRedirect != endRedirect || w.modes()[wantMode] != 4 {
					t.Fatalf("ended %s with control plane %s, pods %v; want %s/%s; actions %v", w.upgrade.Phase, w.cpRedirect, w.modes(),
						endPhase, endRedirect, w.actions)
				}
				for key, n := range w.rollouts() {
					if n != endRollouts[key] {
						t.Errorf("%s rolled %d times, want %d", key, n, endRollouts[key])
					}
				}
				if len(w.history) != 1 || w.history[0].RedirectTo != meshv1.RedirectCNI {
					t.Errorf("history %+v", w.history)
				}
			})
		}
	}
}
