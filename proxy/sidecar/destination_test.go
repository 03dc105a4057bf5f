package sidecar_test

import (
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestOutboundPerDestination: outbound series name the Service discovery
// resolved (meshed or not); an address discovery does not know is
// "external"; inbound series keep the peer identity and no destination.
func TestOutboundPerDestination(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	server.dst.set(a.httpAddr)
	in := netip.MustParseAddrPort(server.inbound)
	const meshed, plain = "198.19.0.5:80", "198.19.0.6:80"
	client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
		meshed: {Namespace: "app", Name: "server", Endpoints: []contract.Endpoint{{IP: in.Addr().String(), Port: int32(in.Port()), Identity: serverID}}},
		plain:  {Namespace: "shop", Name: "legacy", Endpoints: []contract.Endpoint{{IP: a.httpAddr.Addr().String(), Port: int32(a.httpAddr.Port())}}},
	}})
	for _, d := range []struct {
		dst, ns, svc, tls string
		n                 int
	}{
		{meshed, "app", "server", "true", 3},
		{plain, "shop", "legacy", "false", 2},
		{a.httpAddr.String(), contract.DstExternal, contract.DstExternal, "false", 1},
	} {
		client.dst.set(netip.MustParseAddrPort(d.dst))
		c := clientVia(client.outbound, false) // a connection of its own: the destination is per connection
		for range d.n {
			resp, err := c.Get("http://" + d.dst + "/echo")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		c.CloseIdleConnections()
		labels := map[string]string{contract.LabelDirection: contract.DirectionOutbound, contract.LabelDstNamespace: d.ns,
			contract.LabelDstService: d.svc, contract.LabelTLS: d.tls, contract.LabelStatusCode: "201"}
		if got := client.sum(t, contract.MetricRequestsTotal, labels); got != float64(d.n) {
			t.Errorf("%s: %v requests with %v\n%s", d.dst, got, labels, client.series(t, contract.MetricRequestsTotal))
		}
		delete(labels, contract.LabelStatusCode)
		if got := client.sum(t, contract.MetricTCPConnectionsTotal, labels); got != 1 {
			t.Errorf("%s: %v connections with %v\n%s", d.dst, got, labels, client.series(t, contract.MetricTCPConnectionsTotal))
		}
	}
	inbound := map[string]string{contract.LabelDirection: contract.DirectionInbound, contract.LabelPeerIdentity: clientID,
		contract.LabelDstNamespace: "", contract.LabelDstService: ""}
	if got := server.sum(t, contract.MetricRequestsTotal, inbound); got != 3 {
		t.Errorf("inbound: %v requests with %v\n%s", got, inbound, server.series(t, contract.MetricRequestsTotal))
	}
}

// BenchmarkFiftyDestinations measures what per-destination series cost:
// one client proxy gets a discovery table of 50 Services (unmeshed
// endpoints: the app) and requests to the first, then to all 50, with three
// outcomes each; it reports the process's live heap and the proxy's series
// count after each. The heap figure includes the app and the test; the
// difference is the cost of the 49 more destinations (series, pooled idle
// connections).
//
//	go test -run '^$' -bench FiftyDestinations -benchtime 1x ./proxy/sidecar/
func BenchmarkFiftyDestinations(b *testing.B) {
	const n = 50
	ca := testpki.NewCA(b, "anchor")
	a := startApp(b)
	client := startProxy(b, proxyOpts{certs: newCerts(ca.Leaf(b, clientID)), anchor: ca.PEM()})
	services := map[string]contract.ServiceTarget{}
	for i := range n {
		services[fmt.Sprintf("198.19.1.%d:80", i+1)] = contract.ServiceTarget{Namespace: fmt.Sprintf("ns%d", i%5), Name: fmt.Sprintf("svc%d", i),
			Endpoints: []contract.Endpoint{{IP: a.httpAddr.Addr().String(), Port: int32(a.httpAddr.Port())}}}
	}
	client.store.Set(contract.DiscoverySnapshot{Services: services})
	call := func(i int) {
		dst := fmt.Sprintf("198.19.1.%d:80", i+1)
		client.dst.set(netip.MustParseAddrPort(dst))
		c := clientVia(client.outbound, false)
		defer c.CloseIdleConnections()
		for _, path := range []string{"/echo", "/status/500", "/status/404"} {
			resp, err := c.Get("http://" + dst + path)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	measure := func() (heapMiB float64, series int) {
		for _, f := range client.families(b) {
			series += len(f.GetMetric())
		}
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / (1 << 20), series
	}
	b.ResetTimer()
	call(0)
	heap1, series1 := measure()
	for i := 1; i < n; i++ {
		call(i)
	}
	heap50, series50 := measure()
	b.ReportMetric(float64(series1), "series@1")
	b.ReportMetric(float64(series50), "series@50")
	b.ReportMetric(heap1, "heap-MiB@1")
	b.ReportMetric(heap50, "heap-MiB@50")
	b.ReportMetric((heap50-heap1)*1024/(n-1), "heap-KiB/dest")
}
