package kubectlplugin

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// MetricsSource returns one proxy's metrics text; PodProxy in production, a
// map of fixtures in tests.
type MetricsSource interface {
	Metrics(ctx context.Context, pod *corev1.Pod) ([]byte, error)
}

// maxMetricsBytes bounds what one proxy may send: the pod is not trusted, and
// a real proxy's exposition is a few hundred kilobytes at most.
const maxMetricsBytes = 16 << 20

// PodProxy reads a proxy's admin endpoint through the API server's pods/proxy
// subresource (GET /api/v1/namespaces/<ns>/pods/<pod>:4191/proxy/metrics), so
// it works from anywhere the kubeconfig does, without a port-forward.
type PodProxy struct {
	Client kubernetes.Interface
	// Timeout bounds one pod's read; zero means PodReadTimeout.
	Timeout time.Duration
}

// PodReadTimeout bounds one proxy's read through the API server. A proxy
// that is shutting down (its pod still Running) accepts and never answers;
// without a bound per pod, check waited out the client's whole 30 s timeout.
const PodReadTimeout = 5 * time.Second

// Metrics implements MetricsSource.
func (p PodProxy) Metrics(ctx context.Context, pod *corev1.Pod) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(p.Timeout, PodReadTimeout))
	defer cancel()
	rc, err := p.Client.CoreV1().Pods(pod.Namespace).
		ProxyGet("http", pod.Name, strconv.Itoa(c.ProxyAdminPort), c.MetricsPath, nil).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxMetricsBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxMetricsBytes {
		return nil, fmt.Errorf("metrics larger than %d bytes", maxMetricsBytes)
	}
	return body, nil
}

// Scrape is one proxy's metrics at one instant.
type Scrape struct {
	Pod    types.NamespacedName
	Report proxymetrics.Report
	// Outbound is the traffic the pod's workload sent, by destination.
	Outbound map[Destination]proxymetrics.Traffic
	Err      error
}

// Destination is where outbound traffic went, as discovery named it.
type Destination struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
}

// ScrapeAll reads every pod's proxy, at most parallel at a time; results keep the order of pods.
func ScrapeAll(ctx context.Context, src MetricsSource, pods []corev1.Pod, parallel int) []Scrape {
	out := make([]Scrape, len(pods))
	proxymetrics.EachPod(pods, parallel, func(i int) {
		out[i].Pod = types.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}
		body, err := src.Metrics(ctx, &pods[i])
		if err == nil {
			out[i].Report, out[i].Outbound, err = ParseMetrics(body)
		}
		out[i].Err = err
	})
	return out
}

// ParseMetrics reads a proxy's exposition: build_info and inbound traffic
// (the operator's parser, so both judge the same numbers) and outbound
// traffic per destination.
func ParseMetrics(body []byte) (proxymetrics.Report, map[Destination]proxymetrics.Traffic, error) {
	rep, err := proxymetrics.Parse(bytes.NewReader(body))
	if err != nil {
		return rep, nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return rep, nil, fmt.Errorf("parse proxy metrics: %w", err)
	}
	out := map[Destination]proxymetrics.Traffic{}
	for _, m := range families[c.MetricRequestsTotal].GetMetric() {
		l := labelMap(m.GetLabel())
		if l[c.LabelDirection] != c.DirectionOutbound {
			continue
		}
		dst := Destination{Namespace: l[c.LabelDstNamespace], Service: l[c.LabelDstService]}
		t := out[dst]
		t.Requests += m.GetCounter().GetValue()
		if l[c.LabelClassification] == c.ClassFailure {
			t.Failures += m.GetCounter().GetValue()
		}
		out[dst] = t
	}
	buckets := map[Destination]map[float64]float64{}
	for _, m := range families[c.MetricRequestDuration].GetMetric() {
		l := labelMap(m.GetLabel())
		if l[c.LabelDirection] != c.DirectionOutbound {
			continue
		}
		dst := Destination{Namespace: l[c.LabelDstNamespace], Service: l[c.LabelDstService]}
		if buckets[dst] == nil {
			buckets[dst] = map[float64]float64{}
		}
		sawInf := false
		for _, b := range m.GetHistogram().GetBucket() {
			buckets[dst][b.GetUpperBound()] += float64(b.GetCumulativeCount())
			sawInf = sawInf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !sawInf {
			buckets[dst][math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
		}
	}
	for dst, bs := range buckets {
		t := out[dst]
		t.Buckets = sortedBuckets(bs)
		out[dst] = t
	}
	return rep, out, nil
}

func labelMap(pairs []*dto.LabelPair) map[string]string {
	out := make(map[string]string, len(pairs))
	for _, l := range pairs {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func sortedBuckets(m map[float64]float64) []proxymetrics.Bucket {
	out := make([]proxymetrics.Bucket, 0, len(m))
	for ub, n := range m {
		out = append(out, proxymetrics.Bucket{UpperBound: ub, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	return out
}
