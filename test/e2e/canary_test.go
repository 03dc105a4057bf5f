//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// canaryGate is the gate of the first wave pinnedUpgradeSpec plans.
const canaryGate = "wave/canary"

// pinnedUpgradeSpec is upgradeSpec with the canary wave pinned to one
// namespace, then the rest. Without it the default canary is the first 10% of
// the cluster's meshed workloads in key order: with several workloads meshed
// it picks one the test's traffic never reaches, that gate passes on too
// little traffic and the faulty target is only caught by a later wave.
func pinnedUpgradeSpec(canaryNS string) string {
	return `"upgrade":{` + upgradeGate + `,"waves":[{"name":"canary","namespaceSelector":{"matchLabels":{"` +
		corev1.LabelMetadataName + `":"` + canaryNS + `"}}},{"name":"rest"}]}`
}

// unpinWaves drops the pinned waves, so later upgrades plan as before.
const unpinWaves = `"upgrade":{"waves":null}`

// meshedNamespace creates a meshed namespace (deleted when t ends) and waits
// until pods created in it are injected.
func meshedNamespace(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	createNamespace(t, cs, ns, map[string]string{contract.InjectKey: contract.InjectEnabled})
	waitInjection(t, cs, ns)
}

// requireCanaryRejected checks that the last upgrade was stopped by the
// canary gate on its success rate, that the rate it measured is the fault's
// (about 0.7) and that Degraded and the history record both carry it.
func requireCanaryRejected(t testing.TB, dyn dynamic.Interface, name string, rec map[string]any) {
	t.Helper()
	mi := getMI(t, dyn, name)
	v, _, _ := unstructured.NestedMap(mi.Object, "status", "upgrade", "lastVerdict")
	measured, _ := v["successRate"].(string)
	rate, err := strconv.ParseFloat(measured, 64)
	if v["gate"] != canaryGate || v["passed"] != false || v["reason"] != "SuccessRateTooLow" || err != nil {
		t.Fatalf("the failing verdict should be the canary gate's, on its success rate: %v", v)
	}
	if rate < 0.5 || rate > 0.9 {
		t.Errorf("the canary gate measured success rate %v, want about 0.7 (30%% of calls failed)", rate)
	}
	if n, _ := v["requests"].(int64); n < 100 {
		t.Errorf("the canary gate judged %d requests, fewer than its minRequests 100", n)
	}
	cond := fmt.Sprint(findCondition(mi, "Degraded")["message"])
	for _, want := range []string{"gate " + canaryGate + " failed", "success rate " + measured} {
		if !strings.Contains(cond, want) {
			t.Errorf("Degraded should carry %q: %s", want, cond)
		}
	}
	if reason := fmt.Sprint(rec["reason"]); !strings.Contains(reason, "success rate "+measured) {
		t.Errorf("the history record should carry the measured rate %s: %s", measured, reason)
	}
	t.Logf("FIGURE %s rejected the target: requests=%v success-rate=%s p99=%v", v["gate"], v["requests"], measured, v["latencyP99"])
}

// watchUpgrade waits for the next history record like waitUpgradeResult and
// keeps every gate verdict given since the upgrade was requested: each stays
// in status.upgrade.lastVerdict at least a bake window, until the next
// gate's verdict takes its place.
func watchUpgrade(t testing.TB, dyn dynamic.Interface, name string, before int, since time.Time, within time.Duration) (map[string]any, map[string]map[string]any) {
	t.Helper()
	verdicts := map[string]map[string]any{}
	var rec map[string]any
	eventually(t, ctxFor(t, within), "upgrade finished", func(ctx context.Context) error {
		mi := getMI(t, dyn, name)
		if v, ok, _ := unstructured.NestedMap(mi.Object, "status", "upgrade", "lastVerdict"); ok {
			// Status times are whole seconds.
			if at, err := time.Parse(time.RFC3339, fmt.Sprint(v["at"])); err == nil && !at.Before(since.Truncate(time.Second)) {
				verdicts[fmt.Sprint(v["gate"])] = v
			}
		}
		h := upgradeHistory(mi)
		if len(h) <= before {
			return fmt.Errorf("phase %s: %s", statusString(mi, "upgrade", "phase"), statusString(mi, "upgrade", "message"))
		}
		rec = h[0].(map[string]any)
		return nil
	})
	return rec, verdicts
}

// requireEveryGatePassed checks the control-plane gate and the gate of every
// planned wave passed, and that the canary judged real traffic.
func requireEveryGatePassed(t testing.TB, dyn dynamic.Interface, name string, verdicts map[string]map[string]any) {
	t.Helper()
	plan, _, _ := unstructured.NestedSlice(getMI(t, dyn, name).Object, "status", "upgrade", "plan")
	gates := []string{"control-plane"}
	for _, w := range plan {
		gates = append(gates, "wave/"+fmt.Sprint(w.(map[string]any)["name"]))
	}
	for _, g := range gates {
		v, ok := verdicts[g]
		if !ok || v["passed"] != true {
			t.Errorf("gate %s: verdict %v, want passed (gates seen: %d of %v)", g, v, len(verdicts), gates)
			continue
		}
		t.Logf("FIGURE gate %s passed (%v): %v", g, v["reason"], v["message"])
	}
	if v := verdicts[canaryGate]; v["reason"] != "Passed" {
		t.Errorf("the canary gate should have judged the gRPC traffic (reason Passed): %v", v)
	}
}

// proxiesAgreeIn checks every meshed pod labelled app=<app> in the namespaces
// reports the wanted build-info label values, and that there is one at least.
func proxiesAgreeIn(cs kubernetes.Interface, namespaces []string, app string, want map[string]string) func(context.Context) error {
	return func(ctx context.Context) error {
		checked := 0
		for _, ns := range namespaces {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metaListAll)
			if err != nil {
				return err
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Labels[contract.ProxyVersionLabel] == "" || p.Labels["app"] != app {
					continue
				}
				fams, err := proxyFamilies(ctx, p.Status.PodIP)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", ns, p.Name, err)
				}
				info := buildInfo(fams)
				for k, v := range want {
					if info[k] != v {
						return fmt.Errorf("%s/%s reports %s=%q, want %q", ns, p.Name, k, info[k], v)
					}
				}
				checked++
			}
		}
		if checked == 0 {
			return fmt.Errorf("no meshed app=%s pod in %v", app, namespaces)
		}
		return nil
	}
}
