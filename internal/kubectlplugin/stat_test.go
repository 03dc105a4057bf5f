package kubectlplugin

import (
	"context"
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
	pm "github.com/meshkeeper/meshkeeper/proxy/metrics"
)

func concat(rs ...[]pm.Request) []pm.Request {
	var out []pm.Request
	for _, r := range rs {
		out = append(out, r...)
	}
	return out
}

var backendSvc = pm.Dst{Namespace: "demo", Service: "backend"}

// TestParseMetricsOutboundByDestination reads the real proxy's exposition.
func TestParseMetricsOutboundByDestination(t *testing.T) {
	body := exposition(t, anchorA, issuerI, concat(
		requests(90, c.DirectionOutbound, backendSvc, 200, 3*time.Millisecond),
		requests(10, c.DirectionOutbound, backendSvc, 503, 3*time.Millisecond),
		requests(5, c.DirectionOutbound, pm.Dst{Namespace: c.DstExternal, Service: c.DstExternal}, 200, 40*time.Millisecond),
		requests(7, c.DirectionInbound, pm.Dst{}, 200, time.Millisecond),
	)...)
	rep, out, err := ParseMetrics(body)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != proxyVer || rep.Issuer != issuerI || len(rep.TrustAnchors) != 1 || rep.Inbound.Requests != 7 {
		t.Fatalf("report %+v", rep)
	}
	b := out[Destination{Namespace: "demo", Service: "backend"}]
	if b.Requests != 100 || b.Failures != 10 || b.Buckets[len(b.Buckets)-1].Count != 100 {
		t.Fatalf("backend traffic %+v", b)
	}
	if ext := out[Destination{Namespace: c.DstExternal, Service: c.DstExternal}]; ext.Requests != 5 {
		t.Fatalf("external traffic %+v", ext)
	}
	if _, _, err := ParseMetrics([]byte("garbage{")); err == nil {
		t.Fatal("garbage parsed")
	}
}

// TestStatDiffsTwoScrapes: the counters before the window do not count, the
// success rate and RPS are of the window only, and a pod's restart (a
// counter going backwards) counts what the new proxy reports.
func TestStatDiffsTwoScrapes(t *testing.T) {
	pods := []corev1.Pod{meshedPod("demo", "backend-1"), meshedPod("demo", "backend-2"), meshedPod("demo", "frontend-1"), meshedPod("demo", "new-1")}
	before := fakeMetrics{
		"demo/backend-1":  exposition(t, anchorA, issuerI, requests(1000, c.DirectionInbound, pm.Dst{}, 500, time.Millisecond)...),
		"demo/backend-2":  exposition(t, anchorA, issuerI, requests(50, c.DirectionInbound, pm.Dst{}, 200, time.Millisecond)...),
		"demo/frontend-1": exposition(t, anchorA, issuerI, requests(100, c.DirectionOutbound, backendSvc, 200, time.Millisecond)...),
	}
	after := fakeMetrics{
		// +198 successes, +2 failures in the window, all around 20ms
		"demo/backend-1": exposition(t, anchorA, issuerI, concat(requests(1002, c.DirectionInbound, pm.Dst{}, 500, time.Millisecond),
			requests(198, c.DirectionInbound, pm.Dst{}, 200, 20*time.Millisecond))...),
		// restarted (its counter went from 50 back to 30): 30 requests since
		"demo/backend-2":  exposition(t, anchorA, issuerI, requests(30, c.DirectionInbound, pm.Dst{}, 200, 20*time.Millisecond)...),
		"demo/frontend-1": exposition(t, anchorA, issuerI, requests(400, c.DirectionOutbound, backendSvc, 200, time.Millisecond)...),
		"demo/new-1":      exposition(t, anchorA, issuerI, requests(9999, c.DirectionInbound, pm.Dst{}, 200, time.Millisecond)...),
	}
	ctx := context.Background()
	group := func(p *corev1.Pod) string { return "deploy/" + p.Name[:len(p.Name)-2] }
	table := ComputeStat(pods, ScrapeAll(ctx, before, pods, 2), ScrapeAll(ctx, after, pods, 2), 10*time.Second, group)
	// new-1 answered only the second scrape: its window is unknown, it is
	// shown as unreadable and none of its 9999 requests count.
	if len(table.Inbound) != 3 || table.Inbound[2].Unreadable != 1 || table.Inbound[2].Requests != 0 {
		t.Fatalf("inbound rows %+v", table.Inbound)
	}
	backend := table.Inbound[0]
	if backend.Name != "deploy/backend" || backend.Pods != 2 || backend.Requests != 230 {
		t.Fatalf("backend row %+v", backend)
	}
	if got := *backend.SuccessRate; math.Abs(got-228.0/230) > 1e-9 {
		t.Fatalf("success rate %v, want %v", got, 228.0/230)
	}
	if backend.RPS != 23 {
		t.Fatalf("rps %v", backend.RPS)
	}
	if *backend.P50 < 10 || *backend.P50 > 25 {
		t.Fatalf("p50 %vms, want within the 20ms bucket", *backend.P50)
	}
	frontIn := table.Inbound[1]
	if frontIn.Name != "deploy/frontend" || frontIn.Requests != 0 || frontIn.SuccessRate != nil || frontIn.P99 != nil {
		t.Fatalf("frontend inbound row %+v", frontIn)
	}
	if len(table.Outbound) != 1 || table.Outbound[0].Requests != 300 || *table.Outbound[0].SuccessRate != 1 || table.Outbound[0].To.Service != "backend" {
		t.Fatalf("outbound %+v", table.Outbound)
	}
}

func TestStatUnreadablePod(t *testing.T) {
	pods := []corev1.Pod{meshedPod("demo", "backend-1")}
	ctx := context.Background()
	scr := ScrapeAll(ctx, fakeMetrics{}, pods, 1)
	table := ComputeStat(pods, scr, scr, time.Second, func(p *corev1.Pod) string { return "pod/" + p.Name })
	if len(table.Inbound) != 1 || table.Inbound[0].Unreadable != 1 || table.Inbound[0].SuccessRate != nil {
		t.Fatalf("%+v", table.Inbound)
	}
}
