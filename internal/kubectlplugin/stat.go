package kubectlplugin

import (
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// StatRow is one workload's (or pod's) golden metrics over the window.
type StatRow struct {
	Namespace string `json:"namespace"`
	// Name is "deploy/<name>" (or sts/ds/pod), or the pod's name with --by pod.
	Name string `json:"name"`
	// To is set on per-destination rows.
	To *Destination `json:"to,omitempty"`
	// Pods counted; Unreadable pods whose proxy could not be read in either scrape.
	Pods       int     `json:"pods"`
	Unreadable int     `json:"unreadable,omitempty"`
	Requests   float64 `json:"requests"`
	// SuccessRate is nil without requests.
	SuccessRate *float64 `json:"successRate,omitempty"`
	RPS         float64  `json:"rps"`
	// Latencies in milliseconds; nil without observations.
	P50 *float64 `json:"p50ms,omitempty"`
	P95 *float64 `json:"p95ms,omitempty"`
	P99 *float64 `json:"p99ms,omitempty"`
}

// StatTable is what `stat` shows: inbound per workload, then outbound per
// workload and destination.
type StatTable struct {
	Window       time.Duration `json:"-"`
	WindowSecond float64       `json:"windowSeconds"`
	Inbound      []StatRow     `json:"inbound"`
	Outbound     []StatRow     `json:"outbound"`
}

// Grouping names the row a pod's traffic is counted in.
type Grouping func(p *corev1.Pod) string

// ComputeStat diffs two scrapes of the same pods taken window apart. A pod
// present in only one scrape is left out: without both ends its window is
// unknown. A counter that went backwards means the proxy restarted
// (proxymetrics.Traffic.Since).
func ComputeStat(pods []corev1.Pod, before, after []Scrape, window time.Duration, group Grouping) StatTable {
	prev := map[types.NamespacedName]Scrape{}
	for _, s := range before {
		prev[s.Pod] = s
	}
	cur := map[types.NamespacedName]Scrape{}
	for _, s := range after {
		cur[s.Pod] = s
	}
	type key struct {
		ns, name string
		to       Destination
		out      bool
	}
	acc := map[key]*statAcc{}
	get := func(k key) *statAcc {
		if acc[k] == nil {
			acc[k] = &statAcc{}
		}
		return acc[k]
	}
	for i := range pods {
		p := &pods[i]
		id := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		b, okB := prev[id]
		a, okA := cur[id]
		if !okB || !okA {
			continue
		}
		in := get(key{ns: p.Namespace, name: group(p)})
		in.pods++
		if a.Err != nil || b.Err != nil {
			in.unreadable++
			continue
		}
		in.t = in.t.Add(a.Report.Inbound.Since(b.Report.Inbound))
		for dst, t := range a.Outbound {
			o := get(key{ns: p.Namespace, name: group(p), to: dst, out: true})
			o.pods++
			o.t = o.t.Add(t.Since(b.Outbound[dst]))
		}
	}
	table := StatTable{Window: window, WindowSecond: window.Seconds()}
	for k, v := range acc {
		row := v.row(k.ns, k.name, window)
		if k.out {
			to := k.to
			row.To = &to
			table.Outbound = append(table.Outbound, row)
		} else {
			table.Inbound = append(table.Inbound, row)
		}
	}
	sortRows(table.Inbound)
	sortRows(table.Outbound)
	return table
}

type statAcc struct {
	pods, unreadable int
	t                proxymetrics.Traffic
}

func (a *statAcc) row(ns, name string, window time.Duration) StatRow {
	r := StatRow{Namespace: ns, Name: name, Pods: a.pods, Unreadable: a.unreadable, Requests: a.t.Requests}
	if window > 0 {
		r.RPS = a.t.Requests / window.Seconds()
	}
	if a.t.Requests > 0 {
		sr := a.t.SuccessRate()
		r.SuccessRate = &sr
	}
	r.P50, r.P95, r.P99 = quantileMs(a.t, 0.5), quantileMs(a.t, 0.95), quantileMs(a.t, 0.99)
	return r
}

func quantileMs(t proxymetrics.Traffic, q float64) *float64 {
	v := t.Quantile(q)
	if math.IsNaN(v) {
		return nil
	}
	ms := v * 1000
	return &ms
}

func sortRows(rows []StatRow) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.To == nil || b.To == nil {
			return a.To == nil && b.To != nil
		}
		if a.To.Namespace != b.To.Namespace {
			return a.To.Namespace < b.To.Namespace
		}
		return a.To.Service < b.To.Service
	})
}
