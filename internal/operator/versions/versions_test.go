package versions

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/operator/charts"
)

func TestEveryReleaseHasItsChart(t *testing.T) {
	if len(Supported()) < 2 {
		t.Fatalf("at least two mesh versions must ship so upgrades run for real, got %v", Supported())
	}
	seenProxy := map[string]bool{}
	for _, v := range Supported() {
		r, err := Lookup(v)
		if err != nil {
			t.Fatal(err)
		}
		chart, err := fs.ReadFile(charts.FS, r.Chart+"/Chart.yaml")
		if err != nil {
			t.Fatalf("release %s: %v", v, err)
		}
		if !strings.Contains(string(chart), "\nversion: "+v+"\n") {
			t.Errorf("chart %s does not declare version %s", r.Chart, v)
		}
		values, _ := fs.ReadFile(charts.FS, r.Chart+"/values.yaml")
		if !strings.Contains(string(values), "proxy:"+r.ProxyTag) || !strings.Contains(string(values), `proxyVersion: "`+r.ProxyVersion+`"`) {
			t.Errorf("chart %s defaults do not match the table's proxy %s", r.Chart, r.ProxyVersion)
		}
		if seenProxy[r.ProxyVersion] {
			t.Errorf("proxy version %s shipped twice: every release needs a distinct proxy", r.ProxyVersion)
		}
		seenProxy[r.ProxyVersion] = true
	}
	if _, err := Lookup("9.9.9"); err == nil || !strings.Contains(err.Error(), "0.1.0, 0.2.0") {
		t.Fatalf("unknown version error should list the supported ones: %v", err)
	}
}
