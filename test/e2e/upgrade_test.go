//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

var metaListAll = metav1.ListOptions{}

// upgradeGate gates every step on a short bake window with enough traffic.
const upgradeGate = `"gate":{"bakeWindow":"20s","minRequests":100,"minSuccessRate":"0.99"},"stepDeadline":"5m"`

func upgradeHistory(obj *unstructured.Unstructured) []any {
	h, _, _ := unstructured.NestedSlice(obj.Object, "status", "upgradeHistory")
	return h
}

// waitUpgradeResult waits until the history gains a record and returns it.
func waitUpgradeResult(t testing.TB, dyn dynamic.Interface, name string, before int, within time.Duration) map[string]any {
	t.Helper()
	var rec map[string]any
	eventually(t, ctxFor(t, within), "upgrade finished", func(ctx context.Context) error {
		mi := getMI(t, dyn, name)
		h := upgradeHistory(mi)
		if len(h) <= before {
			return fmt.Errorf("phase %s wave %v: %s", statusString(mi, "upgrade", "phase"),
				mi.Object["status"].(map[string]any)["upgrade"], statusString(mi, "upgrade", "message"))
		}
		rec = h[0].(map[string]any)
		return nil
	})
	return rec
}

// testFaultyUpgrade: a target whose proxies fail 30% of requests fails the
// canary gate (the canary is the namespace the load runs in) and is rolled
// back automatically; traffic recovers and the installation says why.
func testFaultyUpgrade(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	const ns = "e2e-canary"
	meshedNamespace(t, cs, ns)
	createServiceAccount(t, cs, ns, "loadgen")
	sampleBackend(t, cs, ns, 2)
	eventually(t, ctxFor(t, 3*time.Minute), "canary backend ready", deploymentReady(cs, ns, "backend"))
	url := "http://backend." + ns + ".svc/"
	before := len(upgradeHistory(getMI(t, dyn, name)))
	wait := loadPod(t, cs, ns, "faulty-load", "loadgen", url, loadRPS, 150*time.Second)
	time.Sleep(5 * time.Second)
	patchMI(t, dyn, name, `{"spec":{"version":"0.2.0",`+pinnedUpgradeSpec(ns)+`,"controlPlane":{"values":{"proxy":{"env":{"`+
		contract.EnvFaultFailureRate+`":"0.3","`+contract.EnvFaultProxyVersion+`":"0.2.0"}}}}}}`)
	rec := waitUpgradeResult(t, dyn, name, before, 6*time.Minute)
	if rec["result"] != "RolledBack" {
		t.Fatalf("history %v, want RolledBack", rec)
	}
	mi := getMI(t, dyn, name)
	reason := findCondition(mi, "Degraded")
	if reason["status"] != "True" || !strings.Contains(fmt.Sprint(reason["message"]), "success rate") {
		t.Fatalf("Degraded should say which gate failed with its numbers: %v", reason)
	}
	t.Logf("FIGURE faulty-upgrade verdict: %v", reason["message"])
	requireCanaryRejected(t, dyn, name, rec)
	requireCheckNamesFailedGate(t, canaryGate)
	eventually(t, ctxFor(t, 3*time.Minute), "control plane and proxies back on 0.1.0", func(ctx context.Context) error {
		if v := statusString(getMI(t, dyn, name), "installedVersion"); v != "0.1.0" {
			return fmt.Errorf("installed %s", v)
		}
		if err := proxiesAgreeIn(cs, []string{ns}, "backend", map[string]string{contract.LabelVersion: "0.1.0"})(ctx); err != nil {
			return err
		}
		return proxiesAgree(cs, map[string]string{contract.LabelVersion: "0.1.0"})(ctx)
	})
	s := wait()
	t.Logf("load during the faulty upgrade (failures expected while the canary ran the faulty proxy): ok=%d failed=%d", s.Successes, s.Failures)
	// Traffic has recovered: a fresh load succeeds entirely.
	requireClean(t, loadPod(t, cs, ns, "recovered-load", "loadgen", url, loadRPS, 20*time.Second)())
	// Acknowledge the failure: back to the installed version, fault removed.
	patchMI(t, dyn, name, `{"spec":{"version":"0.1.0",`+unpinWaves+`,"controlPlane":{"values":{"proxy":{"env":null}}}}}`)
	eventually(t, ctxFor(t, 2*time.Minute), "failed upgrade acknowledged", miCondition(dyn, name, "Ready"))
	deleteNamespace(t, cs, ns) // its workloads must not be in the next upgrade's plan
}

// prometheusUpgradeSpec gates on a real Prometheus scraping the proxies, with
// a custom PromQL check that the wave's proxies are scraped at all.
func prometheusUpgradeSpec(t testing.TB, promURL string) string {
	t.Helper()
	spec, err := json.Marshal(map[string]any{"spec": map[string]any{"version": "0.2.0", "upgrade": map[string]any{
		"stepDeadline": "5m",
		"gate": map[string]any{
			"source": "Prometheus", "bakeWindow": "20s", "minRequests": 100, "minSuccessRate": "0.99",
			"prometheus": map[string]any{"url": promURL, "checks": []any{map[string]any{
				"name": promCheck, "query": `count(up{job="meshkeeper-proxies",namespace=~"$namespaces"} == 1)`, "min": "1",
			}}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(spec)
}

const promCheck = "proxies-scraped"

// testUpgrade: 0.1.0 → 0.2.0 under continuous load, gated on a real
// Prometheus, with the operator killed mid-wave; the upgrade completes, every
// proxy reports the new version and the load generator counts no failure.
func testUpgrade(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	before := len(upgradeHistory(getMI(t, dyn, name)))
	promURL := startPrometheus(t, cs)
	wait := loadPod(t, cs, "e2e-mesh", "upgrade-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, 150*time.Second)
	time.Sleep(5 * time.Second)
	started := time.Now()
	patchMI(t, dyn, name, prometheusUpgradeSpec(t, promURL))
	eventually(t, ctxFor(t, 3*time.Minute), "upgrade reached a data-plane wave", func(ctx context.Context) error {
		if p := statusString(getMI(t, dyn, name), "upgrade", "phase"); p != "Wave" {
			return fmt.Errorf("phase %q", p)
		}
		return nil
	})
	pods, err := cs.CoreV1().Pods(operatorNamespace).List(ctxFor(t, 10*time.Second), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=operator"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("operator pod: %v", err)
	}
	for _, p := range pods.Items {
		if err := cs.CoreV1().Pods(operatorNamespace).Delete(ctxFor(t, 10*time.Second), p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed operator pod %s mid-wave", p.Name)
	}
	rec := waitUpgradeResult(t, dyn, name, before, 8*time.Minute)
	if rec["result"] != "Succeeded" {
		t.Fatalf("history %v", rec)
	}
	t.Logf("FIGURE upgrade-seconds=%.0f", time.Since(started).Seconds())
	verdict, _, _ := unstructured.NestedMap(getMI(t, dyn, name).Object, "status", "upgrade", "lastVerdict")
	if msg := fmt.Sprint(verdict["message"]); verdict["passed"] != true || !strings.Contains(msg, "check "+promCheck+": value") {
		t.Fatalf("the last verdict should come from Prometheus, with the custom check's value: %v", verdict)
	}
	t.Logf("FIGURE prometheus-gate verdict: %v", verdict["message"])
	eventually(t, ctxFor(t, time.Minute), "every proxy reports 0.2.0", proxiesAgree(cs, map[string]string{contract.LabelVersion: "0.2.0"}))
	requireClean(t, wait())
}

func findCondition(obj *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}
