//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// testGRPCHealthyUpgrade: the faulty gRPC case with a healthy target. Under
// the same gRPC load and pinned waves, 0.1.0 → 0.2.0 ends Succeeded with
// every gate passed and not one call failing. The staged move back to 0.1.0
// (a return to the recorded previous version is an upgrade like any other)
// is held to the same, and leaves 0.1.0 installed for the cases after it.
func testGRPCHealthyUpgrade(t *testing.T, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	target := grpcServer(t, cs)
	grpcMove(t, cs, dyn, name, target, "0.1.0", "0.2.0")
	grpcMove(t, cs, dyn, name, target, "0.2.0", "0.1.0")
	patchMI(t, dyn, name, `{"spec":{`+unpinWaves+`}}`)
	eventually(t, ctxFor(t, 2*time.Minute), "installation Ready on 0.1.0", miCondition(dyn, name, "Ready"))
	deleteNamespace(t, cs, grpcNamespace) // its workload must not be in the next upgrade's plan
}

// grpcMove moves the mesh from one version to another under gRPC load and
// requires a clean success: every gate passed, every call OK.
func grpcMove(t *testing.T, cs kubernetes.Interface, dyn dynamic.Interface, name, target, from, to string) {
	t.Helper()
	if v := statusString(getMI(t, dyn, name), "installedVersion"); v != from {
		t.Fatalf("installed version %q, want %s", v, from)
	}
	before := len(upgradeHistory(getMI(t, dyn, name)))
	load := "grpc-load-to-" + strings.ReplaceAll(to, ".", "-")
	wait := grpcLoadPod(t, cs, grpcNamespace, load, target, loadRPS, 150*time.Second)
	eventually(t, ctxFor(t, time.Minute), "gRPC load generator running", podRunning(cs, grpcNamespace, load))
	time.Sleep(5 * time.Second)
	started := time.Now()
	patchMI(t, dyn, name, `{"spec":{"version":"`+to+`",`+pinnedUpgradeSpec(grpcNamespace)+`,"controlPlane":{"values":{"proxy":{"env":null}}}}}`)
	rec, verdicts := watchUpgrade(t, dyn, name, before, started, 8*time.Minute)
	if rec["result"] != "Succeeded" || rec["from"] != from || rec["to"] != to {
		t.Fatalf("history %v, want %s → %s Succeeded", rec, from, to)
	}
	t.Logf("FIGURE grpc-healthy-upgrade %s->%s seconds=%.0f", from, to, time.Since(started).Seconds())
	requireEveryGatePassed(t, dyn, name, verdicts)
	eventually(t, ctxFor(t, 3*time.Minute), "control plane and proxies on "+to, func(ctx context.Context) error {
		if v := statusString(getMI(t, dyn, name), "installedVersion"); v != to {
			return fmt.Errorf("installed %s", v)
		}
		if err := proxiesAgreeIn(cs, []string{grpcNamespace}, "protocols", map[string]string{contract.LabelVersion: to})(ctx); err != nil {
			return err
		}
		return proxiesAgree(cs, map[string]string{contract.LabelVersion: to})(ctx)
	})
	if s := wait(); s.Sent == 0 || s.Dropped != 0 || s.Codes["OK"] != s.Sent {
		t.Errorf("gRPC load during %s → %s: %+v, want every call OK and none dropped", from, to, s)
	}
}
