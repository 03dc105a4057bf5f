// Package proxymetrics reads what a meshed proxy reports about itself on its
// admin port — version, trusted anchors, current issuer, golden metrics — so
// the operator can track trust convergence and judge upgrade health gates.
package proxymetrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// Report is one proxy's view of itself.
type Report struct {
	Version      string
	TrustAnchors []string // sorted SHA-256 fingerprints
	Issuer       string   // fingerprint of the issuer of its current certificate
	// Inbound is the traffic the proxy served to its own workload.
	Inbound Traffic
}

// Traffic is a cumulative count of requests with a latency histogram.
type Traffic struct {
	Requests float64
	Failures float64
	// Buckets are cumulative counts by upper bound (seconds), ascending, +Inf last.
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Parse reads the Prometheus text exposition of a proxy.
func Parse(r io.Reader) (Report, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return Report{}, fmt.Errorf("parse proxy metrics: %w", err)
	}
	var rep Report
	info, ok := families[c.MetricBuildInfo]
	if !ok || len(info.GetMetric()) == 0 {
		return Report{}, fmt.Errorf("proxy metrics lack %s", c.MetricBuildInfo)
	}
	labels := labelMap(info.GetMetric()[0])
	rep.Version, rep.Issuer = labels[c.LabelVersion], labels[c.LabelIssuer]
	if a := labels[c.LabelTrustAnchors]; a != "" {
		rep.TrustAnchors = strings.Split(a, ",")
		sort.Strings(rep.TrustAnchors)
	}
	for _, m := range families[c.MetricRequestsTotal].GetMetric() {
		l := labelMap(m)
		if l[c.LabelDirection] != c.DirectionInbound {
			continue
		}
		v := m.GetCounter().GetValue()
		rep.Inbound.Requests += v
		if l[c.LabelClassification] == c.ClassFailure {
			rep.Inbound.Failures += v
		}
	}
	buckets := map[float64]float64{}
	for _, m := range families[c.MetricRequestDuration].GetMetric() {
		if labelMap(m)[c.LabelDirection] != c.DirectionInbound {
			continue
		}
		sawInf := false
		for _, b := range m.GetHistogram().GetBucket() {
			buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			sawInf = sawInf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !sawInf { // the text format lists +Inf; other sources may only give the count
			buckets[math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
		}
	}
	rep.Inbound.Buckets = sortedBuckets(buckets)
	return rep, nil
}

func labelMap(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func sortedBuckets(m map[float64]float64) []Bucket {
	out := make([]Bucket, 0, len(m))
	for ub, n := range m {
		out = append(out, Bucket{UpperBound: ub, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	return out
}
