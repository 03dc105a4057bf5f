//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// BenchmarkUpgrade measures a full staged upgrade, 0.1.0 → 0.2.0, of N meshed
// pods (N/2 Deployments of 2 replicas) with gates on every step, on the local
// cluster. Run it with `make bench-upgrade`; one iteration per size.
func BenchmarkUpgrade(b *testing.B) {
	for _, pods := range []int{20, 50} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchmarkUpgrade(b, pods)
			}
		})
	}
}

func benchmarkUpgrade(b *testing.B, pods int) {
	b.StopTimer()
	cs, dyn := clients(b)
	name := installMesh(b, cs, dyn, nil)
	ns := fmt.Sprintf("bench-%d", pods)
	createNamespace(b, cs, ns, map[string]string{contract.InjectKey: contract.InjectEnabled})
	waitInjection(b, cs, ns)
	for d := 0; d < pods/2; d++ {
		sampleBackendNamed(b, cs, ns, fmt.Sprintf("svc-%02d", d), 2)
	}
	eventually(b, ctxFor(b, 10*time.Minute), fmt.Sprintf("%d meshed pods ready", pods), func(ctx context.Context) error {
		for d := 0; d < pods/2; d++ {
			if err := deploymentReady(cs, ns, fmt.Sprintf("svc-%02d", d))(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	before := len(upgradeHistory(getMI(b, dyn, name)))
	start := time.Now()
	b.StartTimer()
	patchMI(b, dyn, name, `{"spec":{"version":"0.2.0","upgrade":{"gate":{"bakeWindow":"10s"},"maxUnavailable":5,"stepDeadline":"10m"}}}`)
	rec := waitUpgradeResult(b, dyn, name, before, 30*time.Minute)
	b.StopTimer()
	took := time.Since(start)
	if rec["result"] != "Succeeded" {
		b.Fatalf("upgrade of %d pods: %v", pods, rec)
	}
	b.ReportMetric(took.Seconds(), "s/upgrade")
	b.ReportMetric(took.Seconds()/float64(pods), "s/pod")
	b.Logf("FIGURE upgrade of %d meshed pods: %.0fs", pods, took.Seconds())
	deleteNamespace(b, cs, ns)
	uninstallMesh(b, dyn, name)
}
