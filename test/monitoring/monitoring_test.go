package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	rulesFile     = "../../config/prometheus/rules/meshkeeper.rules.yaml"
	promRuleFile  = "../../config/prometheus/prometheusrule.yaml"
	dashboardFile = "../../config/grafana/meshkeeper-dashboard.json"
)

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert  string `json:"alert"`
			Record string `json:"record"`
			Expr   string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboardQueries returns every PromQL query of the dashboard: panel
// targets (rows' nested panels too) and templating queries.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	qs := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			qs[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
		}
		for _, n := range p.Panels {
			for i, tg := range n.Targets {
				qs[fmt.Sprintf("panel %q target %d", n.Title, i)] = tg.Expr
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		qs["variable "+v.Name] = s
	}
	return qs
}

func ruleQueries(t *testing.T) map[string]string {
	var g ruleGroups
	readYAML(t, rulesFile, &g)
	qs := map[string]string{}
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			qs["rule "+r.Alert+r.Record] = r.Expr
		}
	}
	return qs
}

// Every query names only series the code exports.
func TestQueriesNameOnlyExportedMetrics(t *testing.T) {
	known := Exported()
	all := map[string]string{}
	for k, v := range ruleQueries(t) {
		all[k] = v
	}
	dash := dashboardQueries(t)
	for k, v := range dash {
		all[k] = v
	}
	if len(dash) < 20 {
		t.Fatalf("only %d dashboard queries found: the dashboard did not parse as expected", len(dash))
	}
	for where, q := range all {
		if strings.TrimSpace(q) == "" {
			t.Errorf("%s: empty query", where)
			continue
		}
		if bad := Unknown(q, known); len(bad) > 0 {
			t.Errorf("%s uses %v, which the code does not export:\n%s", where, bad, q)
		}
	}
}

// The checker itself: it catches a misspelt or foreign name, in a selector
// or bare, and ignores label values.
func TestUnknownCatchesNamesTheCodeDoesNotExport(t *testing.T) {
	known := Exported()
	for q, want := range map[string][]string{
		`rate(meshkeeper_proxy_request_total{direction="inbound"}[5m])`: {"meshkeeper_proxy_request_total"},
		`up{job="x"} == 0`:                      {"up"},
		`meshkeeper_operator_unmeshed_pods > 0`: nil,
		`sum(rate(meshkeeper_proxy_request_duration_seconds_bucket{error="meshkeeper_x"}[5m]))`: nil,
		`meshkeeper_operator_anchor_expiry`:                                                     {"meshkeeper_operator_anchor_expiry"},
	} {
		if got := Unknown(q, known); !reflect.DeepEqual(got, want) {
			t.Errorf("Unknown(%s) = %v, want %v", q, got, want)
		}
	}
}

// prometheusrule.yaml carries exactly the plain rules file's groups.
func TestPrometheusRuleMatchesTheRulesFile(t *testing.T) {
	var plain, cr map[string]any
	readYAML(t, rulesFile, &plain)
	readYAML(t, promRuleFile, &cr)
	spec, _ := cr["spec"].(map[string]any)
	if cr["kind"] != "PrometheusRule" || !reflect.DeepEqual(spec["groups"], plain["groups"]) {
		t.Fatalf("%s does not carry the groups of %s: regenerate it", promRuleFile, rulesFile)
	}
}

// Every dashboard query parses as PromQL: promtool checks them as recording rules.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MESHKEEPER_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found")
		}
		t.Skip("promtool not installed (make test-monitoring installs it)")
	}
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for where, q := range dashboardQueries(t) {
		expr, err := PromQL(q)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", len(rules)), Expr: expr})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
