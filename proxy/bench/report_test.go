package bench

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer time
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// Differences pair rounds, never results of different rounds.
func TestDifferencesAreRoundByRound(t *testing.T) {
	us := time.Microsecond
	mesh := &point{runs: []Result{{Round: 1, P50: 300 * us}, {Round: 2, P50: 200 * us}, {Round: 3, P50: 250 * us}}}
	ha := &point{runs: []Result{{Round: 2, P50: 210 * us}, {Round: 1, P50: 280 * us}}}
	d := differences(mesh, ha, func(r Result) time.Duration { return r.P50 })
	if len(d) != 2 || d[0] != 20*us || d[1] != -10*us {
		t.Fatalf("differences = %v, want [20µs -10µs]", d)
	}
	if n := notAbove(d); n != 1 {
		t.Fatalf("notAbove = %d, want 1", n)
	}
}

func TestMarkdownComparesMeshkeeperWithHAProxy(t *testing.T) {
	us := time.Microsecond
	res := func(round int, setup string, p50 time.Duration, cpu float64) Result {
		r := Result{Setup: setup, Rate: 1000, Round: round, Requests: 100, Success: 1, P50: p50, P99: 2 * p50, P999: 3 * p50}
		if setup != "direct" {
			r.ProxyProcesses, r.ProxyCPUPer1000, r.PerProxyRSSKiB = 2, cpu, []int64{16 << 10, 17 << 10}
		}
		return r
	}
	rep := Report{
		Results: []Result{
			res(1, "haproxy", 250*us, 0.12), res(1, "direct", 50*us, 0), res(1, "meshkeeper", 240*us, 0.15),
			res(2, "meshkeeper", 260*us, 0.16), res(2, "haproxy", 240*us, 0.11), res(2, "direct", 60*us, 0),
			res(3, "direct", 40*us, 0), res(3, "meshkeeper", 230*us, 0.14), res(3, "haproxy", 245*us, 0.13),
		},
		IdleRSSKiB: map[string][]int64{"meshkeeper": {10 << 10, 10 << 10}, "haproxy": {15 << 10, 20 << 10}},
	}
	md := Markdown(rep, Options{Rounds: 3, Duration: time.Second, Warmup: time.Second, BodySize: 1024}, "test")
	for _, want := range []string{
		// meshkeeper's added p50 per round: 190, 200, 190 → median 190µs; idle and peak RSS per proxy.
		"| meshkeeper | 1000 | 300 | 1.0000 | 240µs | 480µs | 720µs | 190µs | 380µs | 570µs | 0.150 | 10.0 / 10.0 | 16.0 / 17.0 |",
		// meshkeeper − HAProxy per round: −10, +20, −15 µs.
		"| 1000 | p50 | -10µs | 2 of 3 |",
		"| 1000 | CPU cores /1000 RPS | +0.030 | 0 of 3 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if i, j := strings.Index(md, "| direct | 1000"), strings.Index(md, "| meshkeeper | 1000"); i < 0 || i > j {
		t.Errorf("direct is not listed before meshkeeper:\n%s", md)
	}
}

func TestHAProxyConfigRunsTheGivenThreads(t *testing.T) {
	for _, role := range []string{"client", "server"} {
		if got := haproxyConfig(role, "/d", "127.0.0.1:1", "127.0.0.1:2", 1); !strings.Contains(got, "global\n  maxconn 4000\n  nbthread 1\n") {
			t.Errorf("%s config without nbthread 1:\n%s", role, got)
		}
	}
}
