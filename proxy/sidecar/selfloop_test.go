package sidecar_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// refuseWithin bounds how long a refused connection may stay open.
const refuseWithin = 2 * time.Second

// requireRefused sends a plaintext request to addr and requires the
// connection to be closed without an answer, at once.
func requireRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseWithin))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: no answer and still open after %s: the proxy forwarded the connection", addr, refuseWithin)
	}
	if len(b) > 0 {
		t.Fatalf("%s: answered %q, want the connection closed", addr, b)
	}
}

// TestNoSelfLoopNoRelay: connections whose original destination is one of
// the proxy's own listeners (a plain curl to <pod>:4143 used to loop until
// the proxy was OOM-killed), or inbound ones addressed to another host, are
// closed at once, for plaintext and mesh mTLS alike, in both mTLS modes.
func TestNoSelfLoopNoRelay(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	for _, strict := range []bool{false, true} {
		t.Run("strict="+strconv.FormatBool(strict), func(t *testing.T) {
			server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), strict: strict})
			client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
			client.route(service, server.inbound, serverID)
			dsts := map[string]string{
				"its inbound listener":         server.inbound,
				"its outbound listener":        server.outbound,
				"its admin listener":           server.admin,
				"the contract inbound port":    "127.0.0.1:" + strconv.Itoa(contract.ProxyInboundPort),
				"the contract admin port":      "127.0.0.1:" + strconv.Itoa(contract.ProxyAdminPort),
				"another host (relay attempt)": "198.18.0.9:80",
			}
			refused := 0
			for name, dst := range dsts {
				server.dst.set(netip.MustParseAddrPort(dst))
				if !strict {
					requireRefused(t, server.inbound)
					refused++
				}
				// Through a meshed client: mTLS all the way to the refusal.
				start := time.Now()
				c := clientVia(client.outbound, false)
				c.Timeout = 5 * refuseWithin
				resp, err := c.Get("http://" + service + "/")
				if err != nil {
					t.Fatalf("%s over mTLS: %v", name, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadGateway || time.Since(start) > refuseWithin {
					t.Fatalf("%s over mTLS: status %d after %s, want 502 at once", name, resp.StatusCode, time.Since(start))
				}
			}
			if got := server.sum(t, contract.MetricTCPConnectionsTotal, map[string]string{contract.LabelDirection: contract.DirectionInbound}); got != 0 {
				t.Fatalf("the proxy accepted %v connections to forward", got)
			}
			if got := server.metric(t, `meshkeeper_proxy_refused_connections_total{direction="inbound",reason="foreign-destination"}`); got == "absent" {
				t.Fatal("relay attempts not counted")
			}
			if got := server.metric(t, `meshkeeper_proxy_refused_connections_total{direction="inbound",reason="proxy-port"}`); got == "absent" {
				t.Fatalf("loops not counted (%d plaintext ones sent)", refused)
			}
		})
	}
}

// TestOutboundNeverDialsItself: an application's connection straight to the
// outbound listener (not redirected, so its original destination is the
// listener itself) or to a proxy port of its own pod is closed at once.
func TestOutboundNeverDialsItself(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	for _, dst := range []string{client.outbound, client.inbound, client.admin,
		"127.0.0.1:" + strconv.Itoa(contract.ProxyOutboundPort)} {
		client.dst.set(netip.MustParseAddrPort(dst))
		requireRefused(t, client.outbound)
	}
	if got := client.metric(t, `meshkeeper_proxy_refused_connections_total{direction="outbound",reason="proxy-port"}`); got != "4" {
		t.Fatalf("refusals counted: %s, want 4", got)
	}
}
