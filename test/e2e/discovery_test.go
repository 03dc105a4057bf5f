//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// testDiscoveryRefusesStrangers: discovery used to answer anyone in the
// cluster with every meshed pod's address and identity. Now a caller without
// a workload certificate gets 401, from an unmeshed pod and from a meshed
// app (whose proxy relays the TLS untouched: the app itself holds no mesh
// certificate), while the meshed proxies are still served (each reports
// ready only after its first snapshot, and ProtocolMatrix's dst_service
// labels come from it).
func testDiscoveryRefusesStrangers(t testing.TB, cs kubernetes.Interface) {
	url := fmt.Sprintf("https://%s.%s.svc:%d%s", contract.DiscoveryServiceName, operatorNamespace, contract.DiscoveryPort, contract.DiscoveryPath)
	args := []string{"get", "-url", url, "-insecure", "-want-status", "401", "-timeout", "60s"}
	createNamespace(t, cs, "e2e-stranger", nil) // not meshed
	for _, c := range []struct{ ns, name string }{{"e2e-stranger", "discovery-stranger"}, {"e2e-mesh", "discovery-meshed-app"}} {
		out := runPod(t, cs, c.ns, c.name, args, 2*time.Minute)
		if strings.Contains(out, "spiffe://") {
			t.Fatalf("%s/%s: the refusal leaks identities: %s", c.ns, c.name, trimTo(out, 300))
		}
		t.Logf("FIGURE discovery, caller %s/%s without a workload certificate: 401 %s", c.ns, c.name, trimTo(strings.TrimSpace(out), 120))
	}
	backends := meshedPods(t, cs, "e2e-mesh", "app=backend")
	if len(backends) == 0 {
		t.Fatal("no meshed backend pod")
	}
	for _, p := range backends {
		ready := false
		for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			ready = ready || (st.Name == contract.ProxyContainerName && st.Ready)
		}
		if !ready {
			t.Fatalf("proxy of %s is not ready: discovery did not serve it", p.Name)
		}
	}
}
