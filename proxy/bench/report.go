package bench

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// point is one setup at one rate over all rounds.
type point struct {
	setup string
	rate  int
	runs  []Result // by round
}

// quantiles names the latency figures compared, and how to read each from a result.
var quantiles = []struct {
	name string
	of   func(Result) time.Duration
}{
	{"p50", func(r Result) time.Duration { return r.P50 }},
	{"p99", func(r Result) time.Duration { return r.P99 }},
	{"p99.9", func(r Result) time.Duration { return r.P999 }},
}

// points groups results by (setup, rate), ordered by rate, then direct, meshkeeper, HAProxy.
func points(results []Result) []*point {
	var out []*point
	for _, r := range results {
		i := slices.IndexFunc(out, func(p *point) bool { return p.setup == r.Setup && p.rate == r.Rate })
		if i < 0 {
			out = append(out, &point{setup: r.Setup, rate: r.Rate})
			i = len(out) - 1
		}
		out[i].runs = append(out[i].runs, r)
	}
	rank := func(setup string) int { return slices.Index([]string{"direct", "meshkeeper", "haproxy"}, setup) }
	slices.SortStableFunc(out, func(a, b *point) int {
		if a.rate != b.rate {
			return a.rate - b.rate
		}
		return rank(a.setup) - rank(b.setup)
	})
	return out
}

// differences are, round by round, a setup's figure minus another's, for the
// rounds both ran in: two setups measured minutes apart on a shared machine
// differ by the machine's mood as much as by themselves.
func differences[T number](a, b *point, of func(Result) T) []T {
	var out []T
	for _, ra := range a.runs {
		for _, rb := range b.runs {
			if ra.Round == rb.Round {
				out = append(out, of(ra)-of(rb))
			}
		}
	}
	return out
}

type number interface {
	int64 | float64 | time.Duration
}

// notAbove counts the values ≤ 0.
func notAbove[T number](v []T) int {
	n := 0
	for _, x := range v {
		if x <= 0 {
			n++
		}
	}
	return n
}

func median[T number](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func collect[T any](runs []Result, of func(Result) T) []T {
	out := make([]T, len(runs))
	for i, r := range runs {
		out[i] = of(r)
	}
	return out
}

// maxRSS is, per proxy, the largest resident memory seen after any round.
func maxRSS(runs []Result) []int64 {
	var out []int64
	for _, r := range runs {
		for i, kib := range r.PerProxyRSSKiB {
			if i == len(out) {
				out = append(out, 0)
			}
			out[i] = max(out[i], kib)
		}
	}
	return out
}

func us(d time.Duration) string { return d.Round(time.Microsecond).String() }

func kibList(v []int64) string {
	if len(v) == 0 {
		return "-"
	}
	parts := make([]string, len(v))
	for i, kib := range v {
		parts[i] = fmt.Sprintf("%.1f", float64(kib)/1024)
	}
	return strings.Join(parts, " / ")
}

// Markdown renders the run: medians per point, latency added over direct,
// meshkeeper against HAProxy round by round, and every attack.
func Markdown(rep Report, o Options, note string) string {
	pts := points(rep.Results)
	find := func(setup string, rate int) *point {
		for _, p := range pts {
			if p.setup == setup && p.rate == rate {
				return p
			}
		}
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# bench-proxy\n\n%s\n\n"+
		"Open model (vegeta constant rate), %s per point after %s warm-up, POST with %d-byte request and response bodies, keep-alive, loopback. "+
		"%d rounds; in each, every setup is attacked at every rate, the setups interleaved and their order rotated from round to round. "+
		"Figures are medians over the rounds; \"added\" is the median over rounds of (setup − direct in the same round). "+
		"CPU is cores used by the proxy pair (both hops together) per 1000 RPS. RSS is per proxy (client hop / server hop), in MiB: "+
		"idle once ready before any traffic, and the largest seen after an attack.\n\n",
		note, o.Duration, o.Warmup, o.BodySize, max(o.Rounds, 1))

	b.WriteString("| setup | RPS | requests | success | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | CPU cores /1000 RPS | RSS idle MiB | RSS under load MiB |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range pts {
		var requests uint64
		for _, r := range p.runs {
			requests += r.Requests
		}
		row := []string{p.setup, fmt.Sprint(p.rate), fmt.Sprint(requests),
			fmt.Sprintf("%.4f", slices.Min(collect(p.runs, func(r Result) float64 { return r.Success })))}
		for _, q := range quantiles {
			row = append(row, us(median(collect(p.runs, q.of))))
		}
		direct := find("direct", p.rate)
		for _, q := range quantiles {
			if p.setup == "direct" || direct == nil {
				row = append(row, "-")
				continue
			}
			row = append(row, us(median(differences(p, direct, q.of))))
		}
		cpu := "-"
		if p.runs[0].ProxyProcesses > 0 {
			cpu = fmt.Sprintf("%.3f", median(collect(p.runs, func(r Result) float64 { return r.ProxyCPUPer1000 })))
		}
		row = append(row, cpu, kibList(rep.IdleRSSKiB[p.setup]), kibList(maxRSS(p.runs)))
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}

	if slices.ContainsFunc(pts, func(p *point) bool { return p.setup == "haproxy" }) {
		b.WriteString("\n## meshkeeper against HAProxy\n\n" +
			"Per round, meshkeeper's figure minus HAProxy's (negative: meshkeeper faster or lighter); the median over rounds, " +
			"and in how many rounds meshkeeper was not slower.\n\n")
		b.WriteString("| RPS | figure | meshkeeper − HAProxy (median) | rounds meshkeeper ≤ HAProxy |\n|---|---|---|---|\n")
		for _, p := range pts {
			h := find("haproxy", p.rate)
			if p.setup != "meshkeeper" || h == nil {
				continue
			}
			for _, q := range quantiles {
				d := differences(p, h, q.of)
				fmt.Fprintf(&b, "| %d | %s | %s | %d of %d |\n", p.rate, q.name, us(median(d)), notAbove(d), len(d))
			}
			d := differences(p, h, func(r Result) float64 { return r.ProxyCPUPer1000 })
			fmt.Fprintf(&b, "| %d | CPU cores /1000 RPS | %+.3f | %d of %d |\n", p.rate, median(d), notAbove(d), len(d))
		}
	}

	b.WriteString("\n## Every attack\n\n| round | setup | RPS | requests | success | p50 | p99 | p99.9 | CPU cores /1000 RPS | RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Results {
		cpu := "-"
		if r.ProxyProcesses > 0 {
			cpu = fmt.Sprintf("%.3f", r.ProxyCPUPer1000)
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %d | %.4f | %s | %s | %s | %s | %s |\n", r.Round, r.Setup, r.Rate, r.Requests, r.Success,
			us(r.P50), us(r.P99), us(r.P999), cpu, kibList(r.PerProxyRSSKiB))
	}
	for _, r := range rep.Results {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\n- round %d, %s @ %d RPS error: %s", r.Round, r.Setup, r.Rate, e)
		}
	}
	return b.String() + "\n"
}
