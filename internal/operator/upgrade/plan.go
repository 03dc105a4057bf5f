package upgrade

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// Names of the waves the planner adds itself.
const (
	// RemainingWave takes the workloads no configured wave took.
	RemainingWave = "remaining"
	// CanaryWave and RestWave are the default plan when no waves are configured.
	CanaryWave = "canary"
	RestWave   = "rest"
	// RollbackWave is appended to the plan during a rollback; it lists the
	// workloads restarted back to the previous proxy. Configured waves may not use it.
	RollbackWave = "rollback"
	// canaryPercent is the share of workloads in the default canary wave.
	canaryPercent = 10
)

// Plan splits the meshed workloads into waves. A workload joins the first
// configured wave whose namespace selector matches its namespace's labels (a
// wave without a selector matches every namespace); a wave with a percent
// takes ceil(percent% of its still-unplanned matching workloads), in key order.
// Workloads no wave took form a final wave "remaining". Without configured
// waves the plan is a "canary" wave of ceil(10%) of the workloads, then "rest".
// Empty waves are dropped; the result is deterministic.
func Plan(workloads []Workload, namespaceLabels map[string]map[string]string, waves []meshv1.WaveSpec) ([]meshv1.PlannedWave, error) {
	if len(waves) == 0 {
		canary := int32(canaryPercent)
		waves = []meshv1.WaveSpec{{Name: CanaryWave, Percent: &canary}, {Name: RestWave}}
	}
	seen := map[string]bool{}
	type rule struct {
		name     string
		selector labels.Selector
		percent  int
	}
	rules := make([]rule, 0, len(waves))
	for _, w := range waves {
		switch {
		case w.Name == "":
			return nil, fmt.Errorf("a wave has no name")
		case w.Name == RollbackWave:
			return nil, fmt.Errorf("wave name %q is reserved for rollbacks", RollbackWave)
		case seen[w.Name]:
			return nil, fmt.Errorf("wave name %q is used twice", w.Name)
		}
		seen[w.Name] = true
		sel := labels.Everything()
		if w.NamespaceSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
			if err != nil {
				return nil, fmt.Errorf("wave %q: namespace selector: %w", w.Name, err)
			}
			sel = s
		}
		percent := 100
		if w.Percent != nil {
			percent = int(*w.Percent)
		}
		if percent < 1 || percent > 100 {
			return nil, fmt.Errorf("wave %q: percent %d is outside 1..100", w.Name, percent)
		}
		rules = append(rules, rule{w.Name, sel, percent})
	}

	remaining := keys(workloads)
	var plan []meshv1.PlannedWave
	for _, r := range rules {
		var matching []string
		for _, key := range remaining {
			_, ns, _, _ := workload.ParseKey(key)
			if r.selector.Matches(labels.Set(namespaceLabels[ns])) {
				matching = append(matching, key)
			}
		}
		take := (r.percent*len(matching) + 99) / 100
		picked := matching[:take]
		if len(picked) == 0 {
			continue
		}
		plan = append(plan, meshv1.PlannedWave{Name: r.name, Workloads: slices.Clone(picked)})
		remaining = slices.DeleteFunc(remaining, func(k string) bool { return slices.Contains(picked, k) })
	}
	if len(remaining) > 0 {
		name := RemainingWave
		for i := 2; seen[name]; i++ {
			name = RemainingWave + "-" + strconv.Itoa(i)
		}
		plan = append(plan, meshv1.PlannedWave{Name: name, Workloads: remaining})
	}
	return plan, nil
}

// keys returns the sorted, deduplicated keys of workloads.
func keys(workloads []Workload) []string {
	out := make([]string, 0, len(workloads))
	for _, w := range workloads {
		out = append(out, w.Key())
	}
	sort.Strings(out)
	return slices.Compact(out)
}
