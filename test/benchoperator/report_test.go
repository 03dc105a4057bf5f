package main

import (
	"bytes"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/apicount"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d Durations
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond) // unsorted on purpose
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := d.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if d[0] != 100*time.Millisecond {
		t.Error("Percentile sorted the caller's samples")
	}
	if (Durations{}).Percentile(99) != 0 {
		t.Error("empty samples must give 0")
	}
	if got := (Durations{7 * time.Millisecond}).Percentile(99); got != 7*time.Millisecond {
		t.Errorf("one sample: %v", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	before := []Bucket{{0.01, 5}, {0.1, 5}, {1, 5}, {math.Inf(1), 5}}
	after := []Bucket{{0.01, 95}, {0.1, 104}, {1, 105}, {math.Inf(1), 105}} // 100 new: 90 ≤10ms, 9 ≤100ms, 1 ≤1s
	d := SubBuckets(after, before)
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 0.01}, {0.9, 0.01}, {0.95, 0.1}, {0.99, 0.1}, {1, 1}} {
		if got, ok := HistogramQuantile(tc.q, d); !ok || got != tc.want {
			t.Errorf("q%v = %v (%v), want %v", tc.q, got, ok, tc.want)
		}
	}
	if _, ok := HistogramQuantile(0.99, SubBuckets(before, before)); ok {
		t.Error("no observations must not give a quantile")
	}
	if got, _ := HistogramQuantile(0.99, []Bucket{{0.1, 1}, {math.Inf(1), 10}}); !math.IsInf(got, 1) {
		t.Errorf("observations beyond the last finite bound: %v, want +Inf", got)
	}
}

func TestWrite(t *testing.T) {
	p := Point{Name: "small", Namespaces: 20, Meshed: 10, Deployments: 20, Pods: 200, NoopReconciles: 2,
		Noop:      Durations{time.Millisecond, 3 * time.Millisecond},
		NoopPaced: Durations{2 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond}, PacedEvery: 250 * time.Millisecond,
		NoopRequests: apicount.Counts{{Verb: "get", Resource: "secrets"}: 4, {Verb: "patch", Resource: "services", DryRun: true}: 2},
		RSSBytes:     100 << 20, HeapBytes: 40 << 20, QueueLatencyP99: math.Inf(1), RotationErr: "timed out"}
	var buf bytes.Buffer
	if err := Write(&buf, "bench", []Point{p}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| no-op reconcile p50 / p99, back to back | 1.0 ms / 3.0 ms (n=2) |",
		"| no-op reconcile p50 / p99, paced | 4.0 ms / 5.0 ms (n=3, one per 250ms) |",
		"| API requests per no-op reconcile | 3.00 |",
		"| writes in the no-op reconciles | 0 |",
		"| operator RSS / heap after settling | 100 MiB / 40 MiB |",
		"≤ +Inf",
		"not reached: timed out",
		"- get secrets: 2.00\n- patch services (dry run): 1.00\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	p := Point{Name: "large", NoopRequests: apicount.Counts{{Verb: "get", Resource: "secrets"}: 3}, QueueLatencyP99: math.Inf(1), QueueLatencyP50: 0.01}
	back := wirePoint(p).point()
	if back.NoopRequests[apicount.Key{Verb: "get", Resource: "secrets"}] != 3 || !math.IsInf(back.QueueLatencyP99, 1) || back.QueueLatencyP50 != 0.01 {
		t.Errorf("round trip lost figures: %+v", back)
	}
}
