package sidecar_test

import (
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testnet"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// TestVanishedEndpointIsRetriedElsewhere lists a pod that went away (its IP
// drops SYNs) next to a live one: every GET still succeeds, the ones that
// picked the dead pod after the short mesh connect timeout.
func TestVanishedEndpointIsRetriedElsewhere(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	server.dst.set(a.httpAddr)
	live := netip.MustParseAddrPort(server.inbound)
	gone := testnet.Blackhole(t)
	client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
		service: {Endpoints: []contract.Endpoint{
			{IP: gone.Addr().String(), Port: int32(gone.Port()), Identity: serverID},
			{IP: live.Addr().String(), Port: int32(live.Port()), Identity: serverID},
		}},
	}})
	client.dst.set(netip.MustParseAddrPort(service))

	// The client gives up well before the long ConnectTimeout, as real ones do.
	c := clientVia(client.outbound, false)
	c.Timeout = upstream.ConnectTimeout / 2
	start := time.Now()
	for i := range 3 { // round robin sends some of them to the vanished pod first
		resp, err := c.Get("http://" + service + "/echo")
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // keep the connection: one route per request
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("GET %d: status %d", i, resp.StatusCode)
		}
	}
	if took := time.Since(start); took < upstream.MeshConnectTimeout {
		t.Fatalf("done in %s: no request tried the vanished pod", took)
	}
}
