package conditions

import (
	"errors"
	"testing"

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
	T, F := metav1.ConditionTrue, metav1.ConditionFalse
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
		{"transient error while healthy", func(o *Observation) { o.Err = errors.New("conflict") }, want{
			"Degraded": {T, "ReconcileError"}, "Reconciling": {T, meshv1.ReasonProgressing}, "Ready": {T, meshv1.ReasonReady}}},
		{"rolled back after a failed upgrade", func(o *Observation) { o.UpgradeFailedMessage = "upgrade failed: boom" }, want{
			"Degraded": {T, meshv1.ReasonUpgradeFailed}, "Ready": {F, meshv1.ReasonUpgradeFailed}, "ControlPlaneReady": {T, meshv1.ReasonReady}}},
		{"paused", func(o *Observation) { o.Paused = true }, want{"Reconciling": {F, meshv1.ReasonPaused}}},
		{"release failed", func(o *Observation) { o.ReleaseStatus = "failed" }, want{"ControlPlaneReady": {F, meshv1.ReasonReleaseNotDeployed}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.obs(&o)
			got := map[string]metav1.Condition{}
			for _, c := range Conditions(o) {
				got[c.Type] = c
				if c.ObservedGeneration != o.Generation {
					t.Errorf("%s observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
			if len(got) != 6 {
				t.Fatalf("want 6 conditions, got %d", len(got))
			}
			for typ, w := range tc.want {
				if c := got[typ]; c.Status != w.status || c.Reason != w.reason {
					t.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, w.status, w.reason)
				}
			}
		})
	}
}
