package upgrade

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/operator/release"
)

func TestRolledOutGatesOnTheCNIDaemonSetInCNIModeOnly(t *testing.T) {
	deps := release.Readiness{Seen: 2, ReadyReplicas: 2, DesiredReplicas: 2}
	depsNotReady := release.Readiness{Seen: 2, NotReady: []string{"meshkeeper-injector"}}
	ds := func(gen, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Status: appsv1.DaemonSetStatus{
			ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: available}}
	}
	cases := []struct {
		name string
		deps release.Readiness
		cni  bool
		ds   *appsv1.DaemonSet
		want bool
		why  string
	}{
		{"InitContainer: Deployments alone", deps, false, nil, true, ""},
		{"InitContainer: Deployments not available", depsNotReady, false, nil, false, "meshkeeper-injector"},
		{"no Deployments seen", release.Readiness{}, false, nil, false, "not available"},
		{"CNI: DaemonSet rolled out", deps, true, ds(2, 2, 3, 3, 3), true, ""},
		{"CNI: DaemonSet missing", deps, true, nil, false, "missing"},
		{"CNI: new template not observed yet", deps, true, ds(3, 2, 3, 3, 3), false, "not observed"},
		{"CNI: a node still runs the old plugin", deps, true, ds(2, 2, 3, 2, 3), false, "updated on 2/3"},
		{"CNI: a node's new plugin not available", deps, true, ds(2, 2, 3, 3, 2), false, "available on 2/3"},
		{"CNI: Deployments first", depsNotReady, true, ds(2, 2, 3, 3, 3), false, "meshkeeper-injector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := rolledOut(tc.deps, tc.cni, tc.ds)
			if ok != tc.want || !strings.Contains(why, tc.why) || (ok && why != "") {
				t.Fatalf("rolledOut = %v, %q; want %v containing %q", ok, why, tc.want, tc.why)
			}
		})
	}
}
