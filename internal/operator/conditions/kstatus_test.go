package conditions

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

// states are the installation's states as a person would name them, with the
// verdict kstatus (Flux, kpt, Argo CD) must reach.
var states = []struct {
	name string
	obs  func(o *Observation)
	want status.Status
}{
	{"healthy", func(*Observation) {}, status.CurrentStatus},
	{"installing: release not there yet", func(o *Observation) { *o = Observation{Generation: 3, TrustObserved: true, TrustReady: true} }, status.InProgressStatus},
	{"Deployments not available", func(o *Observation) { o.NotReady = []string{"meshkeeper-injector"} }, status.InProgressStatus},
	{"rotating the anchor", func(o *Observation) { o.TrustReason = meshv1.ReasonRotating }, status.CurrentStatus},
	{"staged upgrade under way", func(o *Observation) { o.UpgradeActive, o.UpgradeReason = true, "Upgrading" }, status.InProgressStatus},
	{"release upgrade being retried", func(o *Observation) {
		o.UpgradeFailedMessage, o.Err, o.Failures = "upgrade to 0.2.0 failed 1 time(s)", errors.New("release: boom"), 1
	}, status.InProgressStatus},
	{"one transient error", func(o *Observation) { o.Err, o.Failures = errors.New("conflict"), 1 }, status.InProgressStatus},
	{"persistent error", func(o *Observation) { o.Err, o.Failures = errors.New("forbidden"), DegradedAfter+2 }, status.InProgressStatus},
	{"read failed", func(o *Observation) {
		o.Err, o.Failures, o.TrustUnknown, o.ControlPlaneUnknown = errors.New("timeout"), 1, true, true
	}, status.InProgressStatus},
	{"paused", func(o *Observation) { o.Paused = true }, status.CurrentStatus},
	{"conflict: another installation owns the mesh", func(o *Observation) {
		*o = Observation{Generation: 3, StalledReason: meshv1.ReasonConflict, StalledMessage: "owned by mesh"}
	}, status.FailedStatus},
	{"unsupported version", func(o *Observation) { o.StalledReason, o.StalledMessage = meshv1.ReasonUnsupportedVersion, "9.9.9" }, status.FailedStatus},
	{"invalid anchor", func(o *Observation) {
		*o = Observation{Generation: 3, StalledReason: meshv1.ReasonInvalidAnchor, StalledMessage: "not a CA"}
	}, status.FailedStatus},
	{"release held after MaxAttempts", func(o *Observation) {
		o.StalledReason, o.StalledMessage, o.UpgradeFailedMessage = meshv1.ReasonUpgradeFailed, "held", "upgrade failed 3 times"
	}, status.FailedStatus},
	{"staged upgrade rolled back", func(o *Observation) {
		o.UpgradeHalted, o.UpgradeFailedReason, o.UpgradeFailedMessage = true, "RolledBack", "rolled back to 0.1.0"
	}, status.FailedStatus},
	{"staged upgrade paused on failure", func(o *Observation) {
		o.UpgradeHalted, o.UpgradeFailedReason, o.UpgradeFailedMessage = true, "FailedPaused", "gate failed"
	}, status.FailedStatus},
}

// TestKstatusVerdicts runs cli-utils' kstatus over the resource as the API
// server would serve it in each state.
func TestKstatusVerdicts(t *testing.T) {
	for _, tc := range states {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.obs(&o)
			mi := &meshv1.MeshInstallation{}
			mi.APIVersion, mi.Kind = meshv1.GroupVersion.String(), "MeshInstallation"
			mi.Name, mi.Generation = "mesh", o.Generation
			mi.Status.ObservedGeneration = o.Generation
			for _, c := range Conditions(o) {
				meta.SetStatusCondition(&mi.Status.Conditions, c)
			}
			raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(mi)
			if err != nil {
				t.Fatal(err)
			}
			res, err := status.Compute(&unstructured.Unstructured{Object: raw})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Fatalf("kstatus = %s (%s), want %s; conditions %+v", res.Status, res.Message, tc.want, mi.Status.Conditions)
			}
		})
	}
}

// TestFluxConditionRules checks fluxcd's rules (runtime/conditions/check) in
// every state: a negative-polarity condition (Stalled, Degraded) is never
// True while Ready is True, and Ready is False while Reconciling is True —
// with one deliberate exception, named in readyWhileReconciling.
func TestFluxConditionRules(t *testing.T) {
	for _, tc := range states {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.obs(&o)
			conds := Conditions(o)
			ready := meta.IsStatusConditionTrue(conds, meshv1.ConditionReady)
			for _, neg := range []string{meshv1.ConditionStalled, meshv1.ConditionDegraded} {
				if ready && meta.IsStatusConditionTrue(conds, neg) {
					t.Errorf("%s is True while Ready is True", neg)
				}
			}
			if ready && meta.IsStatusConditionTrue(conds, meshv1.ConditionReconciling) && !readyWhileReconciling(o) {
				t.Errorf("Ready is True while Reconciling is True: %+v", meta.FindStatusCondition(conds, meshv1.ConditionReconciling))
			}
			for _, c := range conds {
				if c.Status != metav1.ConditionTrue && c.Status != metav1.ConditionFalse && c.Status != metav1.ConditionUnknown {
					t.Errorf("%s has status %q", c.Type, c.Status)
				}
				if c.Reason == "" {
					t.Errorf("%s has no reason", c.Type)
				}
			}
		})
	}
}

// readyWhileReconciling is the exception to Flux's second rule, documented in
// the README: the mesh works (control plane and trust ready) while the
// operator changes something that does not impair it — a staged upgrade under
// way, or a retry after a transient error not yet counted as Degraded. kstatus
// reads Reconciling alone, so it says InProgress, which is right.
func readyWhileReconciling(o Observation) bool {
	return o.UpgradeActive || (o.Err != nil && o.Failures < DegradedAfter)
}
