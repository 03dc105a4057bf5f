//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/test/apps/load"
)

var metaListAll = metav1.ListOptions{}

// upgradeSpec gates every step on a short bake window with enough traffic.
const upgradeSpec = `"upgrade":{"gate":{"bakeWindow":"20s","minRequests":100,"minSuccessRate":"0.99"},"stepDeadline":"5m"}`

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
// first wave's gate and is rolled back automatically; traffic recovers and
// the installation says why.
func testFaultyUpgrade(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	before := len(upgradeHistory(getMI(t, dyn, name)))
	wait := loadPod(t, cs, "e2e-mesh", "faulty-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, 150*time.Second)
	time.Sleep(5 * time.Second)
	patchMI(t, dyn, name, `{"spec":{"version":"0.2.0",`+upgradeSpec+`,"controlPlane":{"values":{"proxy":{"env":{"`+
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
	eventually(t, ctxFor(t, 3*time.Minute), "control plane and proxies back on 0.1.0", func(ctx context.Context) error {
		if v := statusString(getMI(t, dyn, name), "installedVersion"); v != "0.1.0" {
			return fmt.Errorf("installed %s", v)
		}
		return proxiesAgree(cs, map[string]string{contract.LabelVersion: "0.1.0"})(ctx)
	})
	s := wait()
	t.Logf("load during the faulty upgrade (failures expected while the canary ran the faulty proxy): ok=%d failed=%d", s.Successes, s.Failures)
	// Traffic has recovered: a fresh load succeeds entirely.
	requireClean(t, loadPod(t, cs, "e2e-mesh", "recovered-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, 20*time.Second)())
	// Acknowledge the failure: back to the installed version, fault removed.
	patchMI(t, dyn, name, `{"spec":{"version":"0.1.0","controlPlane":{"values":{"proxy":{"env":null}}}}}`)
	eventually(t, ctxFor(t, 2*time.Minute), "failed upgrade acknowledged", miCondition(dyn, name, "Ready"))
}

// testUpgrade: 0.1.0 → 0.2.0 under continuous load, with the operator killed
// mid-wave; the upgrade completes, every proxy reports the new version and
// the load generator counts no failure.
func testUpgrade(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	before := len(upgradeHistory(getMI(t, dyn, name)))
	wait := loadPod(t, cs, "e2e-mesh", "upgrade-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, 150*time.Second)
	time.Sleep(5 * time.Second)
	started := time.Now()
	patchMI(t, dyn, name, `{"spec":{"version":"0.2.0",`+upgradeSpec+`}}`)
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
	eventually(t, ctxFor(t, time.Minute), "every proxy reports 0.2.0", proxiesAgree(cs, map[string]string{contract.LabelVersion: "0.2.0"}))
	requireNearlyClean(t, wait())
}

// requireNearlyClean bounds the failures the load generator counted across a
// rolling restart. Zero is the goal and most runs reach it; a rare request
// still times out on an endpoint that vanished mid-request (1 in 30,000 seen),
// so the bound is 1 in 10,000 until the proxy retries those too.
func requireNearlyClean(t testing.TB, s load.Summary) {
	t.Helper()
	failed := s.Sent - s.Successes
	t.Logf("FIGURE success-rate=%.3f%% over %d requests (%d failed)", 100*float64(s.Successes)/float64(s.Sent), s.Sent, failed)
	if s.Sent == 0 || s.TLSErrors != 0 || failed*10000 > s.Sent {
		t.Fatalf("load generator counted too many failures across the upgrade: %+v", s)
	}
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
