package main

import (
	"fmt"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/apicount"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Durations summarises samples by nearest-rank percentiles.
type Durations []time.Duration

// Percentile is the nearest-rank p-th percentile (0 when empty).
func (d Durations) Percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append(Durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Max is the largest sample (0 when empty).
func (d Durations) Max() time.Duration { return d.Percentile(100) }

// Bucket is one cumulative histogram bucket: Count observations ≤ UpperBound seconds.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// SubBuckets is after − before, bucket by bucket (the same bounds in the same order).
func SubBuckets(after, before []Bucket) []Bucket {
	out := make([]Bucket, len(after))
	for i, b := range after {
		out[i] = b
		if i < len(before) && before[i].UpperBound == b.UpperBound {
			out[i].Count -= min(before[i].Count, b.Count)
		}
	}
	return out
}

// HistogramQuantile is the q-quantile (0..1) of cumulative buckets as an
// upper bound: the smallest bucket bound holding at least q of the
// observations. It never claims better than the buckets can tell. ok is false
// without observations.
func HistogramQuantile(q float64, buckets []Bucket) (upper float64, ok bool) {
	if len(buckets) == 0 || buckets[len(buckets)-1].Count == 0 {
		return 0, false
	}
	total := float64(buckets[len(buckets)-1].Count)
	for _, b := range buckets {
		if float64(b.Count) >= q*total {
			return b.UpperBound, true
		}
	}
	return math.Inf(1), true
}

// Point is the outcome of one size of the simulation.
type Point struct {
	Name               string
	Namespaces, Meshed int
	Deployments, Pods  int
	NoopReconciles     int
	Noop               Durations
	// NoopPaced are no-op reconciles one PacedEvery apart: no faster than pod
	// events can start passes (controllers.PodEventWindow), so the client's
	// rate limit, which the back-to-back loop runs into, does not set them.
	NoopPaced                  Durations
	PacedEvery                 time.Duration
	NoopRequests               apicount.Counts
	RSSBytes, HeapBytes        uint64
	NamespaceToBundle          Durations
	PlanWorkloads              int
	Plan                       time.Duration
	ChurnRate                  int
	ChurnFor                   time.Duration
	ChurnChanges               int
	QueueLatencyP50            float64 // seconds, a bucket bound
	QueueLatencyP99            float64
	QueueDepthMax, QueueDepthP int
	Reconciles                 int
	RotationToPromote          time.Duration
	RotationErr                string
	Setup, Took                time.Duration
}

// Write renders the report as Markdown.
func Write(w io.Writer, title string, points []Point) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "| | %s |\n|---|%s\n", names(points), strings.Repeat("---|", len(points)))
	row := func(label string, f func(p Point) string) {
		cells := make([]string, len(points))
		for i, p := range points {
			cells[i] = f(p)
		}
		fmt.Fprintf(&b, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	row("namespaces (meshed)", func(p Point) string { return fmt.Sprintf("%d (%d)", p.Namespaces, p.Meshed) })
	row("Deployments / meshed pods", func(p Point) string { return fmt.Sprintf("%d / %d", p.Deployments, p.Pods) })
	row("no-op reconcile p50 / p99, back to back", func(p Point) string {
		return fmt.Sprintf("%s / %s (n=%d)", ms(p.Noop.Percentile(50)), ms(p.Noop.Percentile(99)), len(p.Noop))
	})
	row("no-op reconcile p50 / p99, paced", func(p Point) string {
		return fmt.Sprintf("%s / %s (n=%d, one per %s)", ms(p.NoopPaced.Percentile(50)), ms(p.NoopPaced.Percentile(99)), len(p.NoopPaced), p.PacedEvery)
	})
	row("API requests per no-op reconcile", func(p Point) string {
		return fmt.Sprintf("%.2f", float64(p.NoopRequests.Total())/float64(max(p.NoopReconciles, 1)))
	})
	row("writes in the no-op reconciles", func(p Point) string { return fmt.Sprintf("%d", p.NoopRequests.Writes()) })
	row("operator RSS / heap after settling", func(p Point) string { return fmt.Sprintf("%s / %s", mib(p.RSSBytes), mib(p.HeapBytes)) })
	row("new namespace → trust bundle p50 / max", func(p Point) string {
		return fmt.Sprintf("%s / %s (n=%d)", ms(p.NamespaceToBundle.Percentile(50)), ms(p.NamespaceToBundle.Max()), len(p.NamespaceToBundle))
	})
	row("upgrade plan of all workloads", func(p Point) string { return fmt.Sprintf("%s (%d workloads)", ms(p.Plan), p.PlanWorkloads) })
	row("churn", func(p Point) string {
		return fmt.Sprintf("%d pod changes/s for %s (%d changes, %d reconciles)", p.ChurnRate, p.ChurnFor, p.ChurnChanges, p.Reconciles)
	})
	row("queue latency p50 / p99 under churn (≤ bucket bound)", func(p Point) string {
		return fmt.Sprintf("≤ %s / ≤ %s", secs(p.QueueLatencyP50), secs(p.QueueLatencyP99))
	})
	row("queue depth max under churn", func(p Point) string { return fmt.Sprintf("%d", p.QueueDepthMax) })
	row("anchor rotation: request → Promote", func(p Point) string {
		if p.RotationErr != "" {
			return "not reached: " + p.RotationErr
		}
		return p.RotationToPromote.Round(time.Millisecond).String()
	})
	row("setup / whole point", func(p Point) string {
		return fmt.Sprintf("%s / %s", p.Setup.Round(time.Second), p.Took.Round(time.Second))
	})
	for _, p := range points {
		fmt.Fprintf(&b, "\n## API requests per no-op reconcile, %s\n\n", p.Name)
		lines := p.NoopRequests.Lines(p.NoopReconciles)
		if len(lines) == 0 {
			lines = []string{"none"}
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func names(points []Point) string {
	out := make([]string, len(points))
	for i, p := range points {
		out[i] = p.Name
	}
	return strings.Join(out, " | ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func secs(s float64) string {
	if math.IsInf(s, 1) {
		return "+Inf"
	}
	return ms(time.Duration(s * float64(time.Second)))
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
