package conditions

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

func healthy() Observation {
	return Observation{Generation: 3, TrustObserved: true, TrustReady: true, TrustReason: meshv1.ReasonReady,
		ReleaseExists: true, ReleaseStatus: "deployed", ReleaseInSync: true, ReleaseRevision: 1,
		ReadyReplicas: 2, DesiredReplicas: 2, DeploymentsSeen: 2}
}

func TestConditions(t *testing.T) {
	type want map[string]struct {
		status metav1.ConditionStatus
		reason string
	}
	T, F, U := metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown
	cases := []struct {
		name string
		obs  func(o *Observation)
		want want
	}{
		{"healthy", func(*Observation) {}, want{
			"Ready": {T, meshv1.ReasonReady}, "TrustReady": {T, meshv1.ReasonReady}, "ControlPlaneReady": {T, meshv1.ReasonReady},
			"Reconciling": {F, meshv1.ReasonAsExpected}, "Stalled": {F, meshv1.ReasonAsExpected}, "Degraded": {F, meshv1.ReasonAsExpected}}},
		{"deployments not available", func(o *Observation) { o.ReadyReplicas = 1; o.NotReady = []string{"meshkeeper-identity"} }, want{
			"Ready": {F, meshv1.ReasonDeploymentsNotReady}, "ControlPlaneReady": {F, meshv1.ReasonDeploymentsNotReady}, "Reconciling": {T, meshv1.ReasonProgressing}}},
		{"unsupported version before anything is installed", func(o *Observation) {
			*o = Observation{Generation: 1, TrustObserved: true, TrustReady: true, StalledReason: meshv1.ReasonUnsupportedVersion, StalledMessage: "9.9.9"}
		}, want{
			"Ready": {F, meshv1.ReasonUnsupportedVersion}, "Stalled": {T, meshv1.ReasonUnsupportedVersion},
			"Reconciling": {F, meshv1.ReasonUnsupportedVersion}, "ControlPlaneReady": {F, meshv1.ReasonInstalling}}},
		{"invalid user anchor", func(o *Observation) {
			*o = Observation{Generation: 1, StalledReason: meshv1.ReasonInvalidAnchor, StalledMessage: "not a CA"}
		}, want{"TrustReady": {F, meshv1.ReasonInvalidAnchor}, "Stalled": {T, meshv1.ReasonInvalidAnchor}, "Ready": {F, meshv1.ReasonInvalidAnchor}}},
		{"one transient error while healthy", func(o *Observation) { o.Err = errors.New("conflict"); o.Failures = 1 }, want{
			"Degraded": {F, meshv1.ReasonAsExpected}, "Reconciling": {T, meshv1.ReasonProgressing}, "Ready": {T, meshv1.ReasonReady}}},
		{"an error persisting over DegradedAfter attempts", func(o *Observation) { o.Err = errors.New("conflict"); o.Failures = DegradedAfter }, want{
			"Degraded": {T, "ReconcileError"}, "Reconciling": {T, meshv1.ReasonProgressing}, "Ready": {F, "ReconcileError"}}},
		{"a read failed before trust and control plane were seen", func(o *Observation) {
			o.Err, o.Failures, o.TrustUnknown, o.ControlPlaneUnknown = errors.New("trust: list namespaces: timeout"), 1, true, true
		}, want{"TrustReady": {U, meshv1.ReasonUnknown}, "ControlPlaneReady": {U, meshv1.ReasonUnknown}, "Ready": {F, meshv1.ReasonUnknown}, "Reconciling": {T, meshv1.ReasonProgressing}}},
		{"staged upgrade rolled back: stalled until the user acts", func(o *Observation) {
			o.UpgradeHalted, o.UpgradeFailedReason, o.UpgradeFailedMessage = true, "RolledBack", "upgrade to 0.2.0 rolled back to 0.1.0"
		}, want{"Stalled": {T, "RolledBack"}, "Degraded": {T, "RolledBack"}, "Ready": {F, "RolledBack"}, "Reconciling": {F, "RolledBack"}}},
		{"staged upgrade paused on a failed gate", func(o *Observation) {
			o.UpgradeHalted, o.UpgradeFailedReason, o.UpgradeFailedMessage = true, "FailedPaused", "gate Bake failed"
		}, want{"Stalled": {T, "FailedPaused"}, "Ready": {F, "FailedPaused"}, "Reconciling": {F, "FailedPaused"}}},
		{"refused: another installation owns the mesh", func(o *Observation) {
			*o = Observation{Generation: 1, StalledReason: meshv1.ReasonConflict, StalledMessage: `owned by "mesh"`}
		}, want{"Stalled": {T, meshv1.ReasonConflict}, "Ready": {F, meshv1.ReasonConflict}, "Reconciling": {F, meshv1.ReasonConflict}}},
		{"rolled back after a failed upgrade", func(o *Observation) { o.UpgradeFailedMessage = "upgrade failed: boom" }, want{
			"Degraded": {T, meshv1.ReasonUpgradeFailed}, "Ready": {F, meshv1.ReasonUpgradeFailed}, "ControlPlaneReady": {T, meshv1.ReasonReady}}},
		{"paused", func(o *Observation) { o.Paused = true }, want{"Reconciling": {F, meshv1.ReasonPaused}}},
		{"paused keeps what was last observed", func(o *Observation) {
			*o = Observation{Generation: 4, Paused: true, Previous: []metav1.Condition{
				{Type: "Ready", Status: T, Reason: meshv1.ReasonReady}, {Type: "TrustReady", Status: T, Reason: meshv1.ReasonReady},
				{Type: "ControlPlaneReady", Status: T, Reason: meshv1.ReasonReady}, {Type: "Stalled", Status: F, Reason: meshv1.ReasonAsExpected},
				{Type: "Degraded", Status: F, Reason: meshv1.ReasonAsExpected}, {Type: "Reconciling", Status: T, Reason: meshv1.ReasonProgressing}}}
		}, want{"Reconciling": {F, meshv1.ReasonPaused}, "Ready": {T, meshv1.ReasonReady}, "TrustReady": {T, meshv1.ReasonReady}}},
		{"release failed", func(o *Observation) { o.ReleaseStatus = "failed" }, want{"ControlPlaneReady": {F, meshv1.ReasonReleaseNotDeployed}}},
		{"available but a probe has not passed", func(o *Observation) { o.ProbePending = "injector did not answer" }, want{
			"Ready": {F, meshv1.ReasonProbing}, "ControlPlaneReady": {F, meshv1.ReasonProbing}, "Reconciling": {T, meshv1.ReasonProgressing}}},
		{"CNI plugin missing on a node: not Ready, the reason says so", func(o *Observation) {
			o.CNIPluginNotReady = "CNI plugin ready on 2/3 nodes; not ready on node-c"
		}, want{"Ready": {F, meshv1.ReasonCNIPluginNotReady}, "ControlPlaneReady": {F, meshv1.ReasonCNIPluginNotReady},
			"Reconciling": {T, meshv1.ReasonProgressing}, "Stalled": {F, meshv1.ReasonAsExpected}}},
		{"Deployments not available come before the CNI plugin", func(o *Observation) {
			o.NotReady, o.CNIPluginNotReady = []string{"meshkeeper-identity"}, "not ready on node-c"
		}, want{"Ready": {F, meshv1.ReasonDeploymentsNotReady}, "ControlPlaneReady": {F, meshv1.ReasonDeploymentsNotReady}}},
		{"CNI plugin not ready comes before a pending probe", func(o *Observation) {
			o.ProbePending, o.CNIPluginNotReady = "injector did not answer", "not ready on node-c"
		}, want{"Ready": {F, meshv1.ReasonCNIPluginNotReady}, "ControlPlaneReady": {F, meshv1.ReasonCNIPluginNotReady}}},
		{"unmeshed pods are reported, Ready stands", func(o *Observation) {
			o.DataPlaneObserved, o.UnmeshedPods, o.UnmeshedMessage = true, 2, "shop/web-1, shop/web-2"
		}, want{"DataPlaneReady": {F, meshv1.ReasonUnmeshedPods}, "Ready": {T, meshv1.ReasonReady}, "Reconciling": {F, meshv1.ReasonAsExpected}}},
		{"every pod meshed", func(o *Observation) { o.DataPlaneObserved = true }, want{"DataPlaneReady": {T, meshv1.ReasonReady}}},
		{"rotation stuck on proxies nothing more can be done for", func(o *Observation) {
			o.TrustReason, o.RotationStuck = meshv1.ReasonRotating, "1 proxy stuck: shop/bare"
		}, want{"TrustReady": {F, meshv1.ReasonRotationStuck}, "Ready": {F, meshv1.ReasonRotationStuck},
			"Reconciling": {T, meshv1.ReasonProgressing}, "Stalled": {F, meshv1.ReasonAsExpected}}},
		{"a failed trust read is Unknown, not stuck", func(o *Observation) {
			o.RotationStuck, o.TrustUnknown, o.Err, o.Failures = "1 proxy stuck", true, errors.New("timeout"), 1
		}, want{"TrustReady": {U, meshv1.ReasonUnknown}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.obs(&o)
			got := map[string]metav1.Condition{}
			for _, c := range Conditions(o) {
				got[c.Type] = c
				carried := o.Paused && c.Type != "Reconciling" && meta.FindStatusCondition(o.Previous, c.Type) != nil
				if c.ObservedGeneration != o.Generation && !carried {
					t.Errorf("%s observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
			n := 6
			if o.DataPlaneObserved {
				n = 7 // DataPlaneReady only once the pods were examined
			}
			if len(got) != n {
				t.Fatalf("want %d conditions, got %d", n, len(got))
			}
			for typ, w := range tc.want {
				if c := got[typ]; c.Status != w.status || c.Reason != w.reason {
					t.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, w.status, w.reason)
				}
			}
		})
	}
}
