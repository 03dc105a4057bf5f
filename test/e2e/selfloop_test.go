//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// testProxyPortsRefuseLoops: one request to a meshed pod's proxy ports, from
// a plaintext client and from a meshed (mTLS) one, used to make the proxy
// forward to itself until it was OOM-killed. Now it is refused at once: the
// proxy keeps running, its memory does not grow, and it counts the refusals.
func testProxyPortsRefuseLoops(t testing.TB, cs kubernetes.Interface) {
	backends := meshedPods(t, cs, "e2e-mesh", "app=backend")
	if len(backends) == 0 {
		t.Fatal("no meshed backend pod")
	}
	pod := backends[0]
	restarts := func() int32 {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctxFor(t, 10*time.Second), pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if st.Name == contract.ProxyContainerName {
				return st.RestartCount
			}
		}
		t.Fatalf("pod %s has no %s container", pod.Name, contract.ProxyContainerName)
		return 0
	}
	rss := func() (rss, refused float64) {
		fams, err := proxyFamilies(ctxFor(t, 10*time.Second), pod.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fams["process_resident_memory_bytes"].GetMetric() {
			rss = m.GetGauge().GetValue()
		}
		return rss, sumCounter(fams, contract.MetricRefusedConnectionsTotal, map[string]string{contract.LabelReason: contract.RefusedProxyPort})
	}
	restartsBefore := restarts()
	rssBefore, refusedBefore := rss()

	createNamespace(t, cs, "e2e-loop", nil) // not meshed: plaintext
	for i, port := range []int{contract.ProxyInboundPort, contract.ProxyOutboundPort, contract.ProxyAdminPort} {
		url := "http://" + pod.Status.PodIP + ":" + strconv.Itoa(port) + "/"
		expectPodFails(t, cs, "e2e-loop", fmt.Sprintf("plain-to-proxy-port-%d", i), []string{"get", "-url", url, "-timeout", "1s"})
		expectPodFails(t, cs, "e2e-mesh", fmt.Sprintf("mtls-to-proxy-port-%d", i), []string{"get", "-url", url, "-timeout", "1s"})
	}

	rssAfter, refusedAfter := rss()
	t.Logf("FIGURE proxy-port requests: restarts %d -> %d, RSS %.1f -> %.1f MiB, refused(proxy-port) %v -> %v",
		restartsBefore, restarts(), rssBefore/(1<<20), rssAfter/(1<<20), refusedBefore, refusedAfter)
	if r := restarts(); r != restartsBefore {
		t.Fatalf("the proxy restarted (%d -> %d)", restartsBefore, r)
	}
	if rssAfter > rssBefore+16<<20 {
		t.Fatalf("proxy memory grew from %.1f to %.1f MiB", rssBefore/(1<<20), rssAfter/(1<<20))
	}
	// 4143 and 4140 (redirected to the inbound listener), plaintext and mTLS;
	// 4191 reaches the admin server itself, which forwards nothing.
	if refusedAfter-refusedBefore < 4 {
		t.Fatalf("refusals counted: %v, want at least 4", refusedAfter-refusedBefore)
	}
}
