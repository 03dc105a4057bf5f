package upgrade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// Gate defaults, matching the CRD defaults.
const (
	DefaultMinSuccessRate = 0.99
	DefaultBakeWindow     = time.Minute
	DefaultMinRequests    = 100
)

// Verdict reasons.
const (
	ReasonPassed            = "Passed"
	ReasonSuccessRateTooLow = "SuccessRateTooLow"
	ReasonLatencyTooHigh    = "LatencyTooHigh"
	ReasonCheckFailed       = "CheckFailed"
	// ReasonNotEnoughTraffic passes: an idle wave is not judged on noise.
	ReasonNotEnoughTraffic = "NotEnoughTraffic"
)

// Thresholds is a parsed GateSpec with its defaults applied.
type Thresholds struct {
	// Source is meshv1.GateSourceProxies or meshv1.GateSourcePrometheus.
	Source         string
	MinSuccessRate float64
	// MaxLatencyP99 is an absolute bound (0: none).
	MaxLatencyP99 time.Duration
	// MaxLatencyP99Ratio bounds p99 relative to the baseline's (0: none).
	MaxLatencyP99Ratio float64
	BakeWindow         time.Duration
	MinRequests        int64
	// Prometheus is the Prometheus source, for Source Prometheus.
	Prometheus *meshv1.PrometheusGate
}

// ParseThresholds reads a GateSpec (nil for all defaults).
func ParseThresholds(g *meshv1.GateSpec) (Thresholds, error) {
	th := Thresholds{Source: meshv1.GateSourceProxies, MinSuccessRate: DefaultMinSuccessRate,
		BakeWindow: DefaultBakeWindow, MinRequests: DefaultMinRequests}
	if g == nil {
		return th, nil
	}
	if g.Source != "" {
		th.Source = g.Source
	}
	if th.Source != meshv1.GateSourceProxies && th.Source != meshv1.GateSourcePrometheus {
		return th, fmt.Errorf("gate source %q is neither %s nor %s", th.Source, meshv1.GateSourceProxies, meshv1.GateSourcePrometheus)
	}
	if th.Source == meshv1.GateSourcePrometheus && g.Prometheus == nil {
		return th, errors.New("gate.prometheus is required when source is Prometheus")
	}
	th.Prometheus = g.Prometheus
	if g.MinSuccessRate != "" {
		v, err := strconv.ParseFloat(g.MinSuccessRate, 64)
		if err != nil || v < 0 || v > 1 {
			return th, fmt.Errorf("gate minSuccessRate %q is not a number in 0..1", g.MinSuccessRate)
		}
		th.MinSuccessRate = v
	}
	if g.MaxLatencyP99 != nil {
		th.MaxLatencyP99 = g.MaxLatencyP99.Duration
	}
	if g.MaxLatencyP99Ratio != "" {
		v, err := strconv.ParseFloat(g.MaxLatencyP99Ratio, 64)
		if err != nil || v <= 0 {
			return th, fmt.Errorf("gate maxLatencyP99Ratio %q is not a positive number", g.MaxLatencyP99Ratio)
		}
		th.MaxLatencyP99Ratio = v
	}
	if g.BakeWindow != nil {
		th.BakeWindow = g.BakeWindow.Duration
	}
	if g.MinRequests != nil {
		th.MinRequests = *g.MinRequests
	}
	return th, nil
}

// Measurement is what a gate source measured over a window.
type Measurement struct {
	Requests    int64
	SuccessRate float64
	// P99 is meaningful only with HasLatency (some requests were observed).
	P99        time.Duration
	HasLatency bool
	// Checks are the custom PromQL checks, in spec order.
	Checks []CheckResult
}

// CheckResult is the outcome of one custom PromQL check.
type CheckResult struct {
	Name   string
	Value  float64
	Passed bool
	// Message states the value against its bounds.
	Message string
}

// Measure summarises traffic deltas (a bake window) from the proxies' metrics.
func Measure(t proxymetrics.Traffic) Measurement {
	m := Measurement{Requests: int64(math.Round(t.Requests)), SuccessRate: t.SuccessRate()}
	if q := t.Quantile(0.99); !math.IsNaN(q) {
		m.P99, m.HasLatency = seconds(q), true
	}
	return m
}

// Verdict is the outcome of a gate.
type Verdict struct {
	Passed bool
	// Reason is Passed, SuccessRateTooLow, LatencyTooHigh, CheckFailed or NotEnoughTraffic.
	Reason      string
	SuccessRate float64
	P99         time.Duration
	HasLatency  bool
	Requests    int64
	// Message gives the measured values and the thresholds.
	Message string
}

// gateCheck is one named check; traffic checks are skipped below MinRequests.
type gateCheck struct {
	traffic bool
	run     func(th Thresholds, m Measurement, baseline *Measurement) (ok bool, reason, detail string)
}

// gateChecks run in this order; the first failure gives the verdict's reason.
var gateChecks = []gateCheck{
	{traffic: true, run: func(th Thresholds, m Measurement, _ *Measurement) (bool, string, string) {
		return m.SuccessRate >= th.MinSuccessRate, ReasonSuccessRateTooLow,
			fmt.Sprintf("success rate %s is below %s", rate(m.SuccessRate), rate(th.MinSuccessRate))
	}},
	{traffic: true, run: func(th Thresholds, m Measurement, _ *Measurement) (bool, string, string) {
		ok := th.MaxLatencyP99 == 0 || !m.HasLatency || m.P99 <= th.MaxLatencyP99
		return ok, ReasonLatencyTooHigh, fmt.Sprintf("p99 latency %s is above %s", m.P99, th.MaxLatencyP99)
	}},
	{traffic: true, run: func(th Thresholds, m Measurement, b *Measurement) (bool, string, string) {
		if th.MaxLatencyP99Ratio == 0 || !m.HasLatency || !usableBaseline(th, b) {
			return true, "", ""
		}
		limit := time.Duration(float64(b.P99) * th.MaxLatencyP99Ratio)
		return m.P99 <= limit, ReasonLatencyTooHigh, fmt.Sprintf("p99 latency %s is above %s (%g× the baseline p99 %s)",
			m.P99, limit, th.MaxLatencyP99Ratio, b.P99)
	}},
	{run: func(_ Thresholds, m Measurement, _ *Measurement) (bool, string, string) {
		for _, c := range m.Checks {
			if !c.Passed {
				return false, ReasonCheckFailed, "check " + c.Name + ": " + c.Message
			}
		}
		return true, "", ""
	}},
}

func usableBaseline(th Thresholds, b *Measurement) bool {
	return b != nil && b.HasLatency && b.P99 > 0 && b.Requests >= th.MinRequests
}

// Evaluate judges the traffic of a bake window against the thresholds;
// baseline (optional) is the pre-upgrade traffic for the relative p99 bound.
func Evaluate(th Thresholds, window proxymetrics.Traffic, baseline *proxymetrics.Traffic) Verdict {
	var b *Measurement
	if baseline != nil {
		m := Measure(*baseline)
		b = &m
	}
	return Judge(th, Measure(window), b)
}

// Judge is Evaluate over measurements, whatever their source. Checks run in a
// fixed order and the first failure decides the reason. With fewer than
// MinRequests requests the traffic checks are skipped and the verdict passes
// as NotEnoughTraffic (custom checks still apply).
func Judge(th Thresholds, m Measurement, baseline *Measurement) Verdict {
	v := Verdict{Passed: true, Reason: ReasonPassed, SuccessRate: m.SuccessRate, P99: m.P99, HasLatency: m.HasLatency, Requests: m.Requests}
	enough := m.Requests >= th.MinRequests
	var failure string
	for _, c := range gateChecks {
		if c.traffic && !enough {
			continue
		}
		if ok, reason, detail := c.run(th, m, baseline); !ok {
			v.Passed, v.Reason, failure = false, reason, detail
			break
		}
	}
	if v.Passed && !enough {
		v.Reason = ReasonNotEnoughTraffic
		failure = fmt.Sprintf("only %d requests (fewer than %d): traffic not judged", m.Requests, th.MinRequests)
	}
	v.Message = describe(th, m, baseline, failure)
	return v
}

func describe(th Thresholds, m Measurement, baseline *Measurement, headline string) string {
	var sb strings.Builder
	if headline != "" {
		sb.WriteString(headline + "; ")
	}
	p99 := "none"
	if m.HasLatency {
		p99 = m.P99.String()
	}
	fmt.Fprintf(&sb, "measured %d requests, success rate %s, p99 %s", m.Requests, rate(m.SuccessRate), p99)
	fmt.Fprintf(&sb, "; thresholds: success rate >= %s", rate(th.MinSuccessRate))
	if th.MaxLatencyP99 > 0 {
		fmt.Fprintf(&sb, ", p99 <= %s", th.MaxLatencyP99)
	}
	if th.MaxLatencyP99Ratio > 0 {
		if usableBaseline(th, baseline) {
			fmt.Fprintf(&sb, ", p99 <= %g× baseline %s", th.MaxLatencyP99Ratio, baseline.P99)
		} else {
			fmt.Fprintf(&sb, ", p99 <= %g× baseline (no usable baseline, not checked)", th.MaxLatencyP99Ratio)
		}
	}
	fmt.Fprintf(&sb, ", min requests %d", th.MinRequests)
	for _, c := range m.Checks {
		if c.Passed {
			fmt.Fprintf(&sb, "; check %s: %s", c.Name, c.Message)
		}
	}
	return sb.String()
}

// Status is the verdict as written in status, for the named gate at a time.
func (v Verdict) Status(gate string, at time.Time) meshv1.GateVerdict {
	return meshv1.GateVerdict{Gate: gate, Passed: v.Passed, Reason: v.Reason, Message: v.Message, At: stamp(at),
		GateMeasurement: MeasurementStatus(Measurement{Requests: v.Requests, SuccessRate: v.SuccessRate, P99: v.P99, HasLatency: v.HasLatency})}
}

// MeasurementStatus is a measurement as written in status.
func MeasurementStatus(m Measurement) meshv1.GateMeasurement {
	g := meshv1.GateMeasurement{Requests: m.Requests, SuccessRate: rate(m.SuccessRate)}
	if m.HasLatency {
		g.LatencyP99 = m.P99.String()
	}
	return g
}

// MeasurementFromStatus reads back a measurement written by MeasurementStatus.
func MeasurementFromStatus(g meshv1.GateMeasurement) (Measurement, error) {
	m := Measurement{Requests: g.Requests, SuccessRate: 1}
	if g.SuccessRate != "" {
		v, err := strconv.ParseFloat(g.SuccessRate, 64)
		if err != nil {
			return m, fmt.Errorf("success rate %q: %w", g.SuccessRate, err)
		}
		m.SuccessRate = v
	}
	if g.LatencyP99 != "" {
		d, err := time.ParseDuration(g.LatencyP99)
		if err != nil {
			return m, fmt.Errorf("p99 %q: %w", g.LatencyP99, err)
		}
		m.P99, m.HasLatency = d, true
	}
	return m, nil
}

// CountersFrom records cumulative counters in status, so the start of a bake
// window survives an operator restart.
func CountersFrom(t proxymetrics.Traffic, at time.Time) meshv1.TrafficCounters {
	c := meshv1.TrafficCounters{Requests: int64(math.Round(t.Requests)), Failures: int64(math.Round(t.Failures)), At: stamp(at)}
	for _, b := range t.Buckets {
		le := "+Inf"
		if !math.IsInf(b.UpperBound, 1) {
			le = strconv.FormatFloat(b.UpperBound, 'g', -1, 64)
		}
		c.Buckets = append(c.Buckets, meshv1.CounterBucket{LE: le, Count: int64(math.Round(b.Count))})
	}
	return c
}

// TrafficFrom reads counters back from status; unparsable buckets are skipped.
func TrafficFrom(c meshv1.TrafficCounters) proxymetrics.Traffic {
	t := proxymetrics.Traffic{Requests: float64(c.Requests), Failures: float64(c.Failures)}
	for _, b := range c.Buckets {
		ub, err := strconv.ParseFloat(b.LE, 64) // accepts "+Inf"
		if err != nil {
			continue
		}
		t.Buckets = append(t.Buckets, proxymetrics.Bucket{UpperBound: ub, Count: float64(b.Count)})
	}
	return t
}

// SumReports adds the inbound traffic of scraped proxies; any failed scrape
// makes the sum unusable for a gate, and the error names the pods.
func SumReports(reports []proxymetrics.PodReport) (proxymetrics.Traffic, error) {
	var sum proxymetrics.Traffic
	var errs []error
	for _, r := range reports {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Pod, r.Err))
			continue
		}
		sum = sum.Add(r.Report.Inbound)
	}
	return sum, errors.Join(errs...)
}

func rate(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond)
}

// stamp is a time as status keeps it (whole seconds, UTC), so what a pass
// writes equals what the next pass reads back.
func stamp(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }
