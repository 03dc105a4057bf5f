package proxymetrics

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// exposition renders metrics exactly as a client_golang registry serves them.
func exposition(t *testing.T, observe func(req *prometheus.CounterVec, lat *prometheus.HistogramVec)) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: c.MetricBuildInfo}, []string{c.LabelVersion, c.LabelTrustAnchors, c.LabelIssuer})
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: c.MetricRequestsTotal},
		[]string{c.LabelDirection, c.LabelStatusCode, c.LabelClassification, c.LabelPeerIdentity, c.LabelTLS})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: c.MetricRequestDuration, Buckets: []float64{0.001, 0.01, 0.1, 1}},
		[]string{c.LabelDirection, c.LabelClassification, c.LabelPeerIdentity, c.LabelTLS})
	reg.MustRegister(info, req, lat)
	info.WithLabelValues("0.2.0", "bbb,aaa", "iii").Set(1)
	observe(req, lat)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&sb, f); err != nil {
			t.Fatal(err)
		}
	}
	return sb.String()
}

func TestParse(t *testing.T) {
	text := exposition(t, func(req *prometheus.CounterVec, lat *prometheus.HistogramVec) {
		req.WithLabelValues(c.DirectionInbound, "200", c.ClassSuccess, "spiffe://a", "true").Add(97)
		req.WithLabelValues(c.DirectionInbound, "503", c.ClassFailure, "spiffe://a", "true").Add(3)
		req.WithLabelValues(c.DirectionOutbound, "500", c.ClassFailure, "", "false").Add(50)
		for i := 0; i < 90; i++ {
			lat.WithLabelValues(c.DirectionInbound, c.ClassSuccess, "spiffe://a", "true").Observe(0.0005)
		}
		for i := 0; i < 10; i++ {
			lat.WithLabelValues(c.DirectionInbound, c.ClassFailure, "spiffe://a", "true").Observe(0.05)
		}
		lat.WithLabelValues(c.DirectionOutbound, c.ClassSuccess, "", "false").Observe(5)
	})
	rep, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != "0.2.0" || rep.Issuer != "iii" || strings.Join(rep.TrustAnchors, ",") != "aaa,bbb" {
		t.Fatalf("identity fields: %+v", rep)
	}
	if rep.Inbound.Requests != 100 || rep.Inbound.Failures != 3 {
		t.Fatalf("inbound counts %+v (outbound must not count)", rep.Inbound)
	}
	if got := rep.Inbound.SuccessRate(); got != 0.97 {
		t.Errorf("success rate %v", got)
	}
	// 90 of 100 under 1ms; p99 falls in (10ms, 100ms]: 10ms + 90ms*(99-90)/10 = 91ms.
	if got := rep.Inbound.Quantile(0.99); math.Abs(got-0.091) > 1e-9 {
		t.Errorf("p99 %v, want 0.091", got)
	}
	if got := rep.Inbound.Quantile(0.5); math.Abs(got-0.001*50/90) > 1e-9 {
		t.Errorf("p50 %v", got)
	}
}

func TestParseRejectsNonProxy(t *testing.T) {
	if _, err := Parse(strings.NewReader("up 1\n")); err == nil {
		t.Fatal("metrics without build info accepted")
	}
}

func TestSinceAndAdd(t *testing.T) {
	a := Traffic{Requests: 10, Failures: 1, Buckets: []Bucket{{0.01, 8}, {math.Inf(1), 10}}}
	b := Traffic{Requests: 30, Failures: 1, Buckets: []Bucket{{0.01, 25}, {math.Inf(1), 30}}}
	d := b.Since(a)
	if d.Requests != 20 || d.Failures != 0 || d.Buckets[0].Count != 17 || d.Buckets[1].Count != 20 {
		t.Fatalf("Since = %+v", d)
	}
	restarted := Traffic{Requests: 4, Failures: 2, Buckets: []Bucket{{0.01, 4}, {math.Inf(1), 4}}}
	if got := restarted.Since(b); got.Requests != 4 || got.Failures != 2 {
		t.Fatalf("a restarted proxy's counts are all new, got %+v", got)
	}
	sum := a.Add(b)
	if sum.Requests != 40 || sum.Buckets[0].Count != 33 {
		t.Fatalf("Add = %+v", sum)
	}
	if !math.IsNaN((Traffic{}).Quantile(0.99)) || (Traffic{}).SuccessRate() != 1 {
		t.Fatal("empty traffic: NaN latency, success rate 1")
	}
}
