//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestServicesAndDNS checks what every workload relies on: a pod reaches a
// Service by its DNS name through CoreDNS and kube-proxy.
func TestServicesAndDNS(t *testing.T) {
	cs, _ := clients(t)
	const ns = "e2e-dns"
	createNamespace(t, cs, ns, nil)
	sampleBackend(t, cs, ns, 2)
	eventually(t, ctxFor(t, 2*time.Minute), "backend ready", deploymentReady(cs, ns, "backend"))

	out := runPod(t, cs, ns, "client", []string{"get", "-url", "http://backend." + ns + ".svc.cluster.local/dns-check", "-timeout", "60s"}, 2*time.Minute)
	if !strings.Contains(out, `"path":"/dns-check"`) {
		t.Fatalf("unexpected answer through the Service: %q", out)
	}
}
