package sidecar_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

const banner = "220 meshkeeper-test ESMTP ready\r\n"

// startBannerApp speaks first, as SMTP, MySQL or PostgreSQL servers do, then
// echoes lines.
func startBannerApp(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, banner)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// bannerThrough connects through the client proxy, times the banner, then
// checks an echo; it returns the time to the banner.
func bannerThrough(t *testing.T, outbound string) time.Duration {
	t.Helper()
	start := time.Now()
	c, err := net.Dial("tcp", outbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	took := time.Since(start)
	if err != nil || line != banner {
		t.Fatalf("banner %q, %v", line, err)
	}
	_, _ = io.WriteString(c, "EHLO client\r\n")
	if echo, err := br.ReadString('\n'); err != nil || echo != "EHLO client\r\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	return took
}

// TestServerFirstBanner: a server-speaks-first protocol through two proxies
// (mTLS between them). On an opaque port neither proxy waits for the client
// to speak; on any other port only the client's proxy waits out detection
// (DetectTimeout, 200 ms in these tests), then tells the server's proxy the
// stream is opaque. Latencies are logged, not asserted.
func TestServerFirstBanner(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	app := startBannerApp(t)
	for _, tc := range []struct {
		name   string
		opaque bool // the Service, as discovery reports it
		own    bool // the server pod's own list has the port
	}{
		{"opaque Service", true, false},
		{"opaque port of the server pod only", false, true},
		{"port not opaque", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var own contract.PortRanges
			if tc.own {
				own = contract.PortRanges{{Lo: app.Port(), Hi: app.Port()}}
			}
			server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), opaque: own})
			client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
			in := netip.MustParseAddrPort(server.inbound)
			client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
				service: {Namespace: "app", Name: "smtp", Opaque: tc.opaque, Endpoints: []contract.Endpoint{{IP: in.Addr().String(), Port: int32(in.Port()), Identity: serverID}}},
			}})
			client.dst.set(netip.MustParseAddrPort(service))
			server.dst.set(app)
			var took []time.Duration
			for range 5 {
				took = append(took, bannerThrough(t, client.outbound))
			}
			t.Logf("banner through two proxies: %v", took)
			// Still mTLS, and counted as TCP on both sides.
			waitFor(t, func() bool {
				return server.sum(t, contract.MetricTCPConnectionsTotal, map[string]string{contract.LabelDirection: contract.DirectionInbound, contract.LabelTLS: "true"}) == 5 &&
					client.sum(t, contract.MetricTCPConnectionsTotal, map[string]string{contract.LabelDirection: contract.DirectionOutbound, contract.LabelTLS: "true",
						contract.LabelDstService: "smtp"}) == 5
			})
			if n := server.sum(t, contract.MetricTCPBytesTotal, map[string]string{contract.LabelDirection: contract.DirectionInbound, contract.LabelFlow: "write"}); n < 5*float64(len(banner)) {
				t.Errorf("inbound bytes written %v, want at least 5 banners", n)
			}
		})
	}
}

// TestMuxToAPortTheServerCallsOpaque: a client proxy that does not know the
// port is opaque (an older proxy, or discovery not caught up) sends HTTP over
// the multiplexed connection; the server's proxy must still serve it as
// HTTP — relaying the multiplexed HTTP/2 bytes to the app would break every
// request.
func TestMuxToAPortTheServerCallsOpaque(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h1only := new(http.Protocols)
	h1only.SetHTTP1(true)
	app := &http.Server{Protocols: h1only, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	})}
	go func() { _ = app.Serve(ln) }()
	t.Cleanup(func() { _ = app.Close() })
	appAddr := netip.MustParseAddrPort(ln.Addr().String())

	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(),
		opaque: contract.PortRanges{{Lo: appAddr.Port(), Hi: appAddr.Port()}}})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(appAddr)
	// Beyond 16 HTTP/1.1 requests in flight, the client's proxy multiplexes.
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			c := clientVia(client.outbound, false)
			defer c.CloseIdleConnections()
			resp, err := c.Get("http://" + service + "/")
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "HTTP/1.1" {
				t.Errorf("status %d, app saw %q", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
}
