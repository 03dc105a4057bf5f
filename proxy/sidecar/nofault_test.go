//go:build !meshkeeper_faults

package sidecar_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestProductionInjectsNoFault: a production build serves every request even
// when its configuration asks for faults at rate 1.
func TestProductionInjectsNoFault(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), fault: 1})
	server.dst.set(a.httpAddr)
	for _, h2 := range []bool{false, true} { // the fast path and net/http's
		resp, err := clientVia(server.inbound, h2).Get("http://x/echo")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("h2=%v: status %d, want the app's 201", h2, resp.StatusCode)
		}
	}
}
