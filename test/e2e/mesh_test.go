//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// TestMesh installs the mesh once and exercises what users rely on, in order:
// mTLS between meshed pods, then trust rotations under load, then upgrades.
func TestMesh(t *testing.T) {
	cs, dyn := clients(t)
	name := installMesh(t, cs, dyn, map[string]any{
		// Leaf certificates of about a minute, so rotations roll them for real.
		// The node's CNI directories, for the switch to CNI at the end.
		"controlPlane": map[string]any{"values": map[string]any{"identity": map[string]any{"leafTTL": "1m"}, "cni": cniDirs()}},
		"trust": map[string]any{
			"rotation": map[string]any{"convergenceTimeout": "3m"},
			// The issuer is renewed about every minute for the whole suite.
			"issuer": map[string]any{"validity": "3m", "renewBefore": "2m"},
		},
	})
	t.Cleanup(func() { uninstallMesh(t, dyn, name) })

	createNamespace(t, cs, "e2e-mesh", map[string]string{contract.InjectKey: contract.InjectEnabled})
	createServiceAccount(t, cs, "e2e-mesh", "loadgen")
	waitInjection(t, cs, "e2e-mesh")
	sampleBackend(t, cs, "e2e-mesh", 2)
	eventually(t, ctxFor(t, 3*time.Minute), "meshed backend ready", deploymentReady(cs, "e2e-mesh", "backend"))

	if !t.Run("MutualTLSAndGoldenMetrics", func(t *testing.T) { testMutualTLS(t, cs) }) {
		return
	}
	if !t.Run("StatMatchesLoadGenerator", func(t *testing.T) { testStatMatchesLoad(t, cs) }) {
		return
	}
	if !t.Run("SecondInstallationChangesNothing", func(t *testing.T) { testSecondInstallation(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("ProtocolMatrix", func(t *testing.T) { testProtocolMatrix(t, cs) }) {
		return
	}
	if !t.Run("UnmeshedPodsRestarted", func(t *testing.T) { testUnmeshedPodsRestarted(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("DiscoveryRefusesStrangers", func(t *testing.T) { testDiscoveryRefusesStrangers(t, cs) }) {
		return
	}
	if !t.Run("ProxyPortsRefuseLoops", func(t *testing.T) { testProxyPortsRefuseLoops(t, cs) }) {
		return
	}
	if !t.Run("AbruptAppRestartUnderLoad", func(t *testing.T) { testAbruptRestart(t, cs) }) {
		return
	}
	if !t.Run("IssuerRotationUnderLoad", func(t *testing.T) { testIssuerRotation(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("AnchorRotationUnderLoad", func(t *testing.T) { testAnchorRotation(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("FaultyUpgradeRollsBack", func(t *testing.T) { testFaultyUpgrade(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("GRPCFaultyUpgradeRollsBack", func(t *testing.T) { testGRPCFaultyUpgrade(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("GRPCHealthyUpgradeSucceeds", func(t *testing.T) { testGRPCHealthyUpgrade(t, cs, dyn, name) }) {
		return
	}
	if !t.Run("UpgradeUnderLoadSurvivesOperatorRestart", func(t *testing.T) { testUpgrade(t, cs, dyn, name) }) {
		return
	}
	t.Run("SwitchToCNIUnderLoad", func(t *testing.T) { testSwitchToCNI(t, cs, dyn, name) })
}

func createServiceAccount(t testing.TB, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctxFor(t, 20*time.Second),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// testMutualTLS: meshed client and server talk mTLS with verified identities,
// the server's metrics count exactly the client's requests, and plaintext is
// accepted by a permissive server but refused by a strict one.
func testMutualTLS(t testing.TB, cs kubernetes.Interface) {
	backends := meshedPods(t, cs, "e2e-mesh", "app=backend")
	if len(backends) != 2 {
		t.Fatalf("want 2 meshed backend pods, got %d", len(backends))
	}
	const client = "spiffe://cluster.local/ns/e2e-mesh/sa/loadgen"
	summary := loadPod(t, cs, "e2e-mesh", "mtls-load", "loadgen", "http://backend.e2e-mesh.svc/", 50, 6*time.Second)()
	requireClean(t, summary)

	// The servers' proxies saw every request over mTLS from the client's identity.
	var served float64
	var series []string // every inbound request series, for a mismatch
	for _, p := range backends {
		fams, err := proxyFamilies(ctxFor(t, 10*time.Second), p.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fams[contract.MetricRequestsTotal].GetMetric() {
			series = append(series, fmt.Sprintf("%s %v %v", p.Name, m.GetLabel(), m.GetCounter().GetValue()))
		}
		served += sumCounter(fams, contract.MetricRequestsTotal, map[string]string{
			contract.LabelDirection: contract.DirectionInbound, contract.LabelTLS: "true", contract.LabelPeerIdentity: client,
			contract.LabelClassification: contract.ClassSuccess})
		info := buildInfo(fams)
		if info[contract.LabelVersion] == "" || info[contract.LabelTrustAnchors] == "" || info[contract.LabelIssuer] == "" {
			t.Errorf("proxy %s build info incomplete: %v", p.Name, info)
		}
	}
	if int(served) != summary.Sent {
		t.Fatalf("backends' proxies counted %v mTLS requests from %s, the load generator sent %d; their request series:\n%s",
			served, client, summary.Sent, strings.Join(series, "\n"))
	}
	t.Logf("FIGURE mtls-requests-counted=%v sent=%d", served, summary.Sent)

	// A non-meshed client reaches a permissive server...
	createNamespace(t, cs, "e2e-plain", nil)
	out := runPod(t, cs, "e2e-plain", "plain-to-permissive", []string{"get", "-url", "http://backend.e2e-mesh.svc/", "-timeout", "60s"}, 2*time.Minute)
	t.Logf("plaintext to a permissive server: %s", trimTo(out, 120))

	// ...but not a strict one, which meshed clients still reach.
	createNamespace(t, cs, "e2e-strict", map[string]string{contract.InjectKey: contract.InjectEnabled})
	ns, err := cs.CoreV1().Namespaces().Get(ctxFor(t, 10*time.Second), "e2e-strict", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Annotations = map[string]string{contract.MTLSModeKey: contract.MTLSStrict}
	if _, err := cs.CoreV1().Namespaces().Update(ctxFor(t, 10*time.Second), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sampleBackend(t, cs, "e2e-strict", 1)
	eventually(t, ctxFor(t, 3*time.Minute), "strict backend ready", deploymentReady(cs, "e2e-strict", "backend"))
	runPod(t, cs, "e2e-mesh", "meshed-to-strict", []string{"get", "-url", "http://backend.e2e-strict.svc/", "-timeout", "60s"}, 2*time.Minute)
	expectPodFails(t, cs, "e2e-plain", "plain-to-strict", []string{"get", "-url", "http://backend.e2e-strict.svc/", "-timeout", "15s"})
}

// expectPodFails runs a one-shot pod that must fail.
func expectPodFails(t testing.TB, cs kubernetes.Interface, ns, name string, args []string) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "app", Image: "meshkeeper.local/sampleapp:dev", ImagePullPolicy: corev1.PullIfNotPresent, Args: args}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "pod "+name+" refused", func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodFailed:
			return nil
		case corev1.PodSucceeded:
			t.Fatalf("%s reached a strict server in plaintext", name)
		}
		return fmt.Errorf("phase %s", p.Status.Phase)
	})
}

func trimTo(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
