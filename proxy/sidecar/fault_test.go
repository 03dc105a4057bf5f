//go:build meshkeeper_faults

package sidecar_test

import (
	"net/http"
	"testing"

	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// Run with -tags meshkeeper_faults (make test-proxy does).
// TestFaultInjection answers every inbound HTTP request with 503 at rate 1.
func TestFaultInjection(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), fault: 1})
	server.dst.set(a.httpAddr)
	resp, err := clientVia(server.inbound, false).Get("http://x/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := server.metric(t, `meshkeeper_proxy_requests_total{classification="failure",direction="inbound",dst_namespace="",dst_service="",error="fault_injected",grpc_status="",peer_identity="",status_code="503",tls="false"}`); got != "1" {
		t.Fatalf("fault not counted: %s", got)
	}
}
