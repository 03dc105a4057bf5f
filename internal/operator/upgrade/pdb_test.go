package upgrade

import (
	"reflect"
	"strings"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

func pdb(ns, name string, selector *metav1.LabelSelector, allowed int32) policyv1.PodDisruptionBudget {
	return policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: selector},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: allowed,
			CurrentHealthy: 2, DesiredHealthy: 2, ExpectedPods: 2},
	}
}

func TestRestartAllowed(t *testing.T) {
	web := Workload{Kind: KindDeployment, Namespace: "shop", Name: "web", Pods: []Pod{
		{Name: "web-1", Labels: map[string]string{"app": "web"}},
		{Name: "web-2", Labels: map[string]string{"app": "web"}},
	}}
	appWeb := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	stale := pdb("shop", "web", appWeb, 1)
	stale.Generation = 2
	cases := []struct {
		name    string
		pdbs    []policyv1.PodDisruptionBudget
		allowed bool
		blocker string
	}{
		{"no PDB", nil, true, ""},
		{"PDB allows a disruption", []policyv1.PodDisruptionBudget{pdb("shop", "web", appWeb, 1)}, true, ""},
		{"PDB allows none", []policyv1.PodDisruptionBudget{pdb("shop", "web", appWeb, 0)}, false, "shop/web allows no disruption"},
		{"second PDB blocks", []policyv1.PodDisruptionBudget{pdb("shop", "a", appWeb, 1), pdb("shop", "b", &metav1.LabelSelector{}, 0)}, false, "shop/b"},
		{"PDB of another namespace", []policyv1.PodDisruptionBudget{pdb("other", "web", appWeb, 0)}, true, ""},
		{"PDB selecting other pods", []policyv1.PodDisruptionBudget{pdb("shop", "db", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, 0)}, true, ""},
		{"nil selector selects nothing", []policyv1.PodDisruptionBudget{pdb("shop", "none", nil, 0)}, true, ""},
		{"stale PDB status blocks", []policyv1.PodDisruptionBudget{stale}, false, "not observed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := RestartAllowed(web, tc.pdbs)
			if ok != tc.allowed || !strings.Contains(why, tc.blocker) {
				t.Fatalf("RestartAllowed = %v %q, want %v mentioning %q", ok, why, tc.allowed, tc.blocker)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	wave := meshv1.PlannedWave{Name: "w", Workloads: []string{"a", "b", "c", "d"}, Restarted: []string{"a"}}
	cases := []struct {
		name        string
		max, flight int
		want        []string
	}{
		{"one at a time, none in flight", 1, 0, []string{"b"}},
		{"one at a time, one in flight", 1, 1, nil},
		{"two slots, one in flight", 2, 1, []string{"b"}},
		{"more slots than workloads left", 10, 0, []string{"b", "c", "d"}},
		{"zero max means one", 0, 0, []string{"b"}},
		{"over the bound", 2, 3, nil},
	}
	for _, tc := range cases {
		if got := Batch(wave, tc.max, tc.flight); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Batch = %v, want %v", tc.name, got, tc.want)
		}
	}
}
