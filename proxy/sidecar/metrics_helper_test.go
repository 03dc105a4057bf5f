package sidecar_test

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// families scrapes and parses the proxy's /metrics.
func (p *proxy) families(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + contract.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sum adds the values (counter value, or histogram sample count) of the
// series of metric name whose labels include every pair of want.
func (p *proxy) sum(t testing.TB, name string, want map[string]string) float64 {
	t.Helper()
	total := 0.0
	for _, m := range p.families(t)[name].GetMetric() {
		if hasLabels(m, want) {
			total += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// series returns the exposition lines of metric name, for failure messages.
func (p *proxy) series(t testing.TB, name string) string {
	t.Helper()
	_, body := get(t, "http://"+p.admin+contract.MetricsPath)
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// histSum adds the sample sums of histogram name over the matching series.
func (p *proxy) histSum(t testing.TB, name string, want map[string]string) float64 {
	t.Helper()
	total := 0.0
	for _, m := range p.families(t)[name].GetMetric() {
		if hasLabels(m, want) {
			total += m.GetHistogram().GetSampleSum()
		}
	}
	return total
}
