package upgrade

import (
	"fmt"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

func deployments(ns string, n int) []Workload {
	out := make([]Workload, n)
	for i := range out {
		out[i] = Workload{Kind: KindDeployment, Namespace: ns, Name: fmt.Sprintf("app-%02d", i)}
	}
	return out
}

func TestPlan(t *testing.T) {
	nsLabels := map[string]map[string]string{
		"dev":  {"tier": "dev"},
		"prod": {"tier": "prod"},
		"misc": {},
	}
	byTier := func(tier string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"tier": tier}}
	}
	type wave struct {
		name string
		n    int
	}
	all := append(append(deployments("dev", 4), deployments("prod", 10)...), deployments("misc", 1)...)
	cases := []struct {
		name      string
		workloads []Workload
		waves     []meshv1.WaveSpec
		want      []wave
	}{
		{"default: canary of ceil(10%) then rest", all, nil, []wave{{CanaryWave, 2}, {RestWave, 13}}},
		{"default with one workload: canary only, empty rest dropped", deployments("dev", 1), nil, []wave{{CanaryWave, 1}}},
		{"no workloads: no waves", nil, nil, nil},
		{"namespace selectors, leftovers in remaining", all,
			[]meshv1.WaveSpec{{Name: "dev", NamespaceSelector: byTier("dev")}, {Name: "prod", NamespaceSelector: byTier("prod")}},
			[]wave{{"dev", 4}, {"prod", 10}, {RemainingWave, 1}}},
		{"percent of the remaining matching workloads, rounded up", all,
			[]meshv1.WaveSpec{{Name: "prod-canary", NamespaceSelector: byTier("prod"), Percent: ptr.To[int32](25)},
				{Name: "prod-half", NamespaceSelector: byTier("prod"), Percent: ptr.To[int32](50)},
				{Name: "everything-else"}},
			[]wave{{"prod-canary", 3}, {"prod-half", 4}, {"everything-else", 8}}},
		{"a wave matching nothing is dropped", all,
			[]meshv1.WaveSpec{{Name: "staging", NamespaceSelector: byTier("staging")}, {Name: "all"}},
			[]wave{{"all", 15}}},
		{"a configured wave named remaining keeps its name; leftovers get another", all,
			[]meshv1.WaveSpec{{Name: RemainingWave, NamespaceSelector: byTier("dev")}},
			[]wave{{RemainingWave, 4}, {RemainingWave + "-2", 11}}},
		{"duplicated workloads are planned once", append(deployments("dev", 2), deployments("dev", 2)...), nil,
			[]wave{{CanaryWave, 1}, {RestWave, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Plan(tc.workloads, nsLabels, tc.waves)
			if err != nil {
				t.Fatal(err)
			}
			var got []wave
			seen := map[string]bool{}
			for _, w := range plan {
				got = append(got, wave{w.Name, len(w.Workloads)})
				for _, k := range w.Workloads {
					if seen[k] {
						t.Fatalf("%s planned twice", k)
					}
					seen[k] = true
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan %v, want %v", got, tc.want)
			}
			again, _ := Plan(tc.workloads, nsLabels, tc.waves)
			if !reflect.DeepEqual(plan, again) {
				t.Fatal("plan is not deterministic")
			}
		})
	}
}

func TestPlanTakesWorkloadsInKeyOrder(t *testing.T) {
	ws := []Workload{{Kind: KindStatefulSet, Namespace: "a", Name: "z"}, {Kind: KindDeployment, Namespace: "b", Name: "a"},
		{Kind: KindDeployment, Namespace: "a", Name: "y"}}
	plan, err := Plan(ws, nil, []meshv1.WaveSpec{{Name: "first", Percent: ptr.To[int32](50)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []meshv1.PlannedWave{
		{Name: "first", Workloads: []string{"Deployment/a/y", "Deployment/b/a"}},
		{Name: RemainingWave, Workloads: []string{"StatefulSet/a/z"}},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Fatalf("plan %+v, want %+v", plan, want)
	}
}

func TestPlanRejectsBadWaves(t *testing.T) {
	bad := map[string][]meshv1.WaveSpec{
		"duplicate name":       {{Name: "a"}, {Name: "a"}},
		"reserved name":        {{Name: RollbackWave}},
		"empty name":           {{Name: ""}},
		"percent out of range": {{Name: "a", Percent: ptr.To[int32](0)}},
		"invalid selector": {{Name: "a", NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: "Bogus"}}}}},
	}
	for name, waves := range bad {
		if _, err := Plan(deployments("dev", 1), nil, waves); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
