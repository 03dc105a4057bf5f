package upgrade

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// traffic builds a window of n requests with the given failures where a
// share fast of them took under 10ms and the rest under 1s.
func traffic(n, failures float64, fast float64) proxymetrics.Traffic {
	return proxymetrics.Traffic{Requests: n, Failures: failures, Buckets: []proxymetrics.Bucket{
		{UpperBound: 0.01, Count: n * fast}, {UpperBound: 1, Count: n}, {UpperBound: math.Inf(1), Count: n}}}
}

func TestParseThresholds(t *testing.T) {
	th, err := ParseThresholds(nil)
	if err != nil || th.MinSuccessRate != 0.99 || th.BakeWindow != time.Minute || th.MinRequests != 100 ||
		th.Source != meshv1.GateSourceProxies || th.MaxLatencyP99 != 0 || th.MaxLatencyP99Ratio != 0 {
		t.Fatalf("defaults: %+v %v", th, err)
	}
	th, err = ParseThresholds(&meshv1.GateSpec{MinSuccessRate: "0.95", MaxLatencyP99: &metav1.Duration{Duration: 250 * time.Millisecond},
		MaxLatencyP99Ratio: "1.5", BakeWindow: &metav1.Duration{Duration: 30 * time.Second}, MinRequests: ptr.To[int64](0)})
	if err != nil || th.MinSuccessRate != 0.95 || th.MaxLatencyP99 != 250*time.Millisecond || th.MaxLatencyP99Ratio != 1.5 ||
		th.BakeWindow != 30*time.Second || th.MinRequests != 0 {
		t.Fatalf("explicit: %+v %v", th, err)
	}
	for name, g := range map[string]*meshv1.GateSpec{
		"rate above 1":              {MinSuccessRate: "1.5"},
		"rate not a number":         {MinSuccessRate: "high"},
		"ratio zero":                {MaxLatencyP99Ratio: "0"},
		"prometheus without config": {Source: meshv1.GateSourcePrometheus},
		"unknown source":            {Source: "Datadog"},
	} {
		if _, err := ParseThresholds(g); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEvaluate(t *testing.T) {
	base := Thresholds{MinSuccessRate: 0.99, MinRequests: 100, BakeWindow: time.Minute}
	withP99 := base
	withP99.MaxLatencyP99 = 100 * time.Millisecond
	withRatio := base
	withRatio.MaxLatencyP99Ratio = 2
	fastBaseline := traffic(1000, 0, 0.995) // p99 under 10ms
	cases := []struct {
		name     string
		th       Thresholds
		window   proxymetrics.Traffic
		baseline *proxymetrics.Traffic
		passed   bool
		reason   string
		mention  []string
	}{
		{"healthy", base, traffic(1000, 5, 1), nil, true, ReasonPassed, []string{"1000 requests", "success rate 0.995", ">= 0.99"}},
		{"too many failures", base, traffic(1000, 30, 1), nil, false, ReasonSuccessRateTooLow, []string{"0.97 is below 0.99"}},
		{"exactly at the threshold passes", base, traffic(1000, 10, 1), nil, true, ReasonPassed, nil},
		{"idle wave passes unjudged", base, traffic(50, 50, 1), nil, true, ReasonNotEnoughTraffic, []string{"only 50 requests", "fewer than 100"}},
		{"no traffic at all", base, proxymetrics.Traffic{}, nil, true, ReasonNotEnoughTraffic, []string{"p99 none"}},
		{"absolute p99 exceeded", withP99, traffic(1000, 0, 0.5), nil, false, ReasonLatencyTooHigh, []string{"is above 100ms", "p99 <= 100ms"}},
		{"absolute p99 met", withP99, traffic(1000, 0, 1), nil, true, ReasonPassed, nil},
		{"success rate checked before latency", withP99, traffic(1000, 500, 0.5), nil, false, ReasonSuccessRateTooLow, nil},
		{"relative p99 exceeded", withRatio, traffic(1000, 0, 0.5), &fastBaseline, false, ReasonLatencyTooHigh, []string{"2× the baseline p99"}},
		{"relative p99 met", withRatio, traffic(1000, 0, 0.996), &fastBaseline, true, ReasonPassed, nil},
		{"relative p99 without baseline is not checked", withRatio, traffic(1000, 0, 0.5), nil, true, ReasonPassed, []string{"no usable baseline"}},
		{"relative p99 with an idle baseline is not checked", withRatio, traffic(1000, 0, 0.5), ptr.To(traffic(10, 0, 1)), true, ReasonPassed, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Evaluate(tc.th, tc.window, tc.baseline)
			if v.Passed != tc.passed || v.Reason != tc.reason {
				t.Fatalf("Evaluate = %v %s (%s), want %v %s", v.Passed, v.Reason, v.Message, tc.passed, tc.reason)
			}
			for _, s := range tc.mention {
				if !strings.Contains(v.Message, s) {
					t.Errorf("message %q lacks %q", v.Message, s)
				}
			}
			if v.Requests != int64(tc.window.Requests) {
				t.Errorf("requests %d", v.Requests)
			}
		})
	}
}

func TestJudgeCustomChecks(t *testing.T) {
	th := Thresholds{MinSuccessRate: 0.99, MinRequests: 100}
	failing := Measurement{Requests: 5, SuccessRate: 1, Checks: []CheckResult{
		{Name: "ok", Passed: true, Message: "value 1 within bounds <= 2"},
		{Name: "errors", Passed: false, Message: "value 3 outside bounds <= 2"},
	}}
	v := Judge(th, failing, nil)
	if v.Passed || v.Reason != ReasonCheckFailed || !strings.Contains(v.Message, "check errors: value 3 outside") {
		t.Fatalf("a failed custom check fails even an idle window: %+v", v)
	}
	failing.Checks[1].Passed = true
	if v = Judge(th, failing, nil); !v.Passed || v.Reason != ReasonNotEnoughTraffic || !strings.Contains(v.Message, "check ok:") {
		t.Fatalf("passing checks are reported: %+v", v)
	}
}

func TestCountersRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 500, time.UTC)
	tr := proxymetrics.Traffic{Requests: 120, Failures: 3, Buckets: []proxymetrics.Bucket{
		{UpperBound: 0.005, Count: 100}, {UpperBound: 0.25, Count: 119}, {UpperBound: math.Inf(1), Count: 120}}}
	c := CountersFrom(tr, at)
	if c.Buckets[2].LE != "+Inf" || c.Buckets[0].LE != "0.005" || !c.At.Equal(&metav1.Time{Time: at.Truncate(time.Second)}) {
		t.Fatalf("counters %+v", c)
	}
	if back := TrafficFrom(c); !reflect.DeepEqual(back, tr) {
		t.Fatalf("round trip %+v != %+v", back, tr)
	}
	later := proxymetrics.Traffic{Requests: 220, Failures: 5, Buckets: []proxymetrics.Bucket{
		{UpperBound: 0.005, Count: 190}, {UpperBound: 0.25, Count: 219}, {UpperBound: math.Inf(1), Count: 220}}}
	if d := later.Since(TrafficFrom(c)); d.Requests != 100 || d.Failures != 2 || d.Buckets[0].Count != 90 {
		t.Fatalf("window from status counters: %+v", d)
	}
}

func TestMeasurementStatusRoundTrip(t *testing.T) {
	m := Measurement{Requests: 10, SuccessRate: 0.9, P99: 12500 * time.Microsecond, HasLatency: true}
	back, err := MeasurementFromStatus(MeasurementStatus(m))
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip %+v %v", back, err)
	}
	if g := MeasurementStatus(Measurement{SuccessRate: 1}); g.LatencyP99 != "" || g.SuccessRate != "1" {
		t.Fatalf("no latency: %+v", g)
	}
	v := Judge(Thresholds{MinSuccessRate: 0.99}, m, nil).Status("wave/a", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if v.Gate != "wave/a" || v.Passed || v.Reason != ReasonSuccessRateTooLow || v.LatencyP99 != "12.5ms" || v.SuccessRate != "0.9" {
		t.Fatalf("verdict status %+v", v)
	}
}

func TestSumReports(t *testing.T) {
	a := proxymetrics.PodReport{Pod: types.NamespacedName{Namespace: "n", Name: "a"}, Report: proxymetrics.Report{Inbound: traffic(10, 1, 1)}}
	b := proxymetrics.PodReport{Pod: types.NamespacedName{Namespace: "n", Name: "b"}, Report: proxymetrics.Report{Inbound: traffic(30, 0, 1)}}
	sum, err := SumReports([]proxymetrics.PodReport{a, b})
	if err != nil || sum.Requests != 40 || sum.Failures != 1 {
		t.Fatalf("sum %+v %v", sum, err)
	}
	b.Err = errors.New("connection refused")
	if _, err := SumReports([]proxymetrics.PodReport{a, b}); err == nil || !strings.Contains(err.Error(), "n/b") {
		t.Fatalf("a failed scrape must be reported with its pod: %v", err)
	}
}
