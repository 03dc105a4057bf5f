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
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/test/apps/load"
	"github.com/meshkeeper/meshkeeper/test/cluster"
)

// metricsGate is upgradeGate on the proxies' own metrics again, after a case
// that gated on a Prometheus it has since stopped.
var metricsGate = `"upgrade":{` + strings.Replace(upgradeGate, `"gate":{`, `"gate":{"source":null,"prometheus":null,`, 1) + `}`

// restrictedLoadPod is loadPod for a namespace enforcing Pod Security
// "restricted": the same load generator, with a restricted security context.
func restrictedLoadPod(t testing.TB, cs kubernetes.Interface, ns, name, sa, target string, rps int, d time.Duration) func() load.Summary {
	t.Helper()
	spec := restrictedPod(sa, loadArgs(target, rps, d)...)
	spec.RestartPolicy = corev1.RestartPolicyNever
	return startLoad(t, cs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "loadgen"}}, Spec: spec}, d)
}

// testCNIGoldenMetrics: in CNI mode, the backends' proxies count every
// request of a meshed load generator, over mTLS from its identity.
func testCNIGoldenMetrics(t testing.TB, cs kubernetes.Interface, ns, sa string) {
	t.Helper()
	summary := restrictedLoadPod(t, cs, ns, "cni-golden-load", sa, "http://backend."+ns+".svc/", 50, 6*time.Second)()
	requireClean(t, summary)
	client := "spiffe://cluster.local/ns/" + ns + "/sa/" + sa
	var served float64
	for _, p := range meshedPods(t, cs, ns, "app=backend") {
		fams, err := proxyFamilies(ctxFor(t, 10*time.Second), p.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		served += sumCounter(fams, contract.MetricRequestsTotal, map[string]string{
			contract.LabelDirection: contract.DirectionInbound, contract.LabelTLS: "true", contract.LabelPeerIdentity: client,
			contract.LabelClassification: contract.ClassSuccess})
	}
	// The earlier single request of the same identity is counted too.
	if int(served) != summary.Sent+1 {
		t.Fatalf("CNI mode: the backends' proxies counted %v mTLS requests from %s, the load generator sent %d (+1 before)", served, client, summary.Sent)
	}
	t.Logf("FIGURE cni-mtls-requests-counted=%v sent=%d+1", served, summary.Sent)
}

// testCNIUpgradeUnderLoad: 0.1.0 → 0.2.0 in CNI mode under continuous load:
// the plugin's DaemonSet rolls to the new release before the workloads do,
// every proxy reports 0.2.0 and the load generator counts no failure.
func testCNIUpgradeUnderLoad(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name, ns, sa string) {
	t.Helper()
	before := len(upgradeHistory(getMI(t, dyn, name)))
	wait := restrictedLoadPod(t, cs, ns, "cni-upgrade-load", sa, "http://backend."+ns+".svc/", loadRPS, 120*time.Second)
	time.Sleep(5 * time.Second)
	started := time.Now()
	patchMI(t, dyn, name, `{"spec":{"version":"0.2.0","upgrade":{`+upgradeGate+`}}}`)
	rec := waitUpgradeResult(t, dyn, name, before, 6*time.Minute)
	if rec["result"] != "Succeeded" {
		t.Fatalf("CNI-mode upgrade history %v", rec)
	}
	t.Logf("FIGURE cni-upgrade-seconds=%.0f", time.Since(started).Seconds())
	eventually(t, ctxFor(t, time.Minute), "the CNI plugin of 0.2.0 on every node", func(ctx context.Context) error {
		if err := daemonSetReady(cs, operatorNamespace, contract.CNIDaemonSetName)(ctx); err != nil {
			return err
		}
		return cniAgentsRun(ctx, cs, ":0.2.0")
	})
	eventually(t, ctxFor(t, time.Minute), "every CNI-mode proxy reports 0.2.0",
		proxiesAgreeIn(cs, []string{ns}, "backend", map[string]string{contract.LabelVersion: "0.2.0"}))
	for _, p := range meshedPods(t, cs, ns, "app=backend") {
		requireCNIMeshed(t, &p)
	}
	requireClean(t, wait())
}

// cniAgentsRun checks that every CNI agent pod runs an image with tag.
func cniAgentsRun(ctx context.Context, cs kubernetes.Interface, tag string) error {
	pods, err := cs.CoreV1().Pods(operatorNamespace).List(ctx, metav1.ListOptions{LabelSelector: contract.ComponentLabel + "=" + contract.CNIComponent})
	if err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("no CNI agent pod")
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			if !strings.HasSuffix(c.Image, tag) {
				return fmt.Errorf("CNI agent %s runs %s, want %s", p.Name, c.Image, tag)
			}
		}
	}
	return nil
}

// testSwitchToCNI: spec.dataPlane.redirect InitContainer → CNI under load is
// rolled out as a staged upgrade (a history record says so); afterwards
// every backend is meshed through the plugin (no privileged init container),
// plaintext to the strict server is still refused, and the load generator
// counts no failure.
func testSwitchToCNI(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	// A strict server meshed in InitContainer mode, which the switch rolls too.
	const strictNS, plainNS = "e2e-strict-cni", "e2e-plain-cni"
	createNamespace(t, cs, strictNS, map[string]string{contract.InjectKey: contract.InjectEnabled})
	setAnnotation(t, cs, strictNS, contract.MTLSModeKey, contract.MTLSStrict)
	waitInjection(t, cs, strictNS)
	sampleBackend(t, cs, strictNS, 1)
	eventually(t, ctxFor(t, 3*time.Minute), "strict backend ready", deploymentReady(cs, strictNS, "backend"))
	createNamespace(t, cs, plainNS, nil)

	before := len(upgradeHistory(getMI(t, dyn, name)))
	version := statusString(getMI(t, dyn, name), "installedVersion")
	wait := loadPod(t, cs, "e2e-mesh", "switch-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, 150*time.Second)
	time.Sleep(5 * time.Second)
	started := time.Now()
	patchMI(t, dyn, name, `{"spec":{"dataPlane":{"redirect":"CNI"},`+metricsGate+`}}`)
	rec := waitUpgradeResult(t, dyn, name, before, 8*time.Minute)
	if rec["result"] != "Succeeded" || rec["redirectFrom"] != "InitContainer" || rec["redirectTo"] != "CNI" || rec["to"] != version {
		t.Fatalf("the switch's history record %v, want Succeeded InitContainer → CNI at %s", rec, version)
	}
	t.Logf("FIGURE switch-to-cni-seconds=%.0f", time.Since(started).Seconds())
	eventually(t, ctxFor(t, time.Minute), "CNI DaemonSet ready", daemonSetReady(cs, operatorNamespace, contract.CNIDaemonSetName))
	for ns, want := range map[string]int{"e2e-mesh": 2, strictNS: 1} {
		eventually(t, ctxFor(t, 2*time.Minute), "backends of "+ns+" meshed through the plugin", func(context.Context) error {
			pods := meshedPods(t, cs, ns, "app=backend")
			if len(pods) != want {
				return fmt.Errorf("%d meshed backend pods, want %d", len(pods), want)
			}
			for i := range pods {
				if pods[i].Annotations[contract.CNIRedirectAnnotation] == "" {
					return fmt.Errorf("%s still in InitContainer mode", pods[i].Name)
				}
			}
			return nil
		})
		for _, p := range meshedPods(t, cs, ns, "app=backend") {
			requireCNIMeshed(t, &p)
		}
	}
	requireClean(t, wait())
	runPod(t, cs, "e2e-mesh", "meshed-to-strict-cni", []string{"get", "-url", "http://backend." + strictNS + ".svc/", "-timeout", "60s"}, 2*time.Minute)
	expectPodFails(t, cs, plainNS, "plain-to-strict-cni", []string{"get", "-url", "http://backend." + strictNS + ".svc/", "-timeout", "15s"})
}

// cniDirs are the chart values naming the local cluster's CNI directories
// (the node's conflist and plugin binaries).
func cniDirs() map[string]any {
	confDir := cluster.Paths{Root: envOr("MESHKEEPER_CLUSTER_DIR", cluster.DefaultWorkDir)}.CNIConfDir()
	return map[string]any{"binDir": cluster.CNIBinDir, "confDir": confDir}
}

// scaleDeployment sets a Deployment's replicas.
func scaleDeployment(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctxFor(t, 20*time.Second), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}
