//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// abruptLoad covers a rolling restart of three replicas with margin.
const abruptLoad = 120 * time.Second

// testAbruptRestart: a 3-replica server whose process exits the moment it
// gets SIGTERM (no graceful shutdown: its connections are reset, requests
// in flight get no answer) is restarted under 200 RPS of meshed GETs, and
// the client sees no failure at all.
func testAbruptRestart(t testing.TB, cs kubernetes.Interface) {
	const ns, name = "e2e-mesh", "abrupt"
	sampleBackendArgs(t, cs, ns, name, 3, "backend", "-exit-on-sigterm")
	eventually(t, ctxFor(t, 3*time.Minute), "abrupt backend ready", deploymentReady(cs, ns, name))
	before := podNames(t, cs, ns, "app="+name)

	wait := loadPod(t, cs, ns, "abrupt-load", "loadgen", "http://"+name+"."+ns+".svc/", loadRPS, abruptLoad)
	eventually(t, ctxFor(t, time.Minute), "load generator running", podRunning(cs, ns, "abrupt-load"))
	time.Sleep(5 * time.Second)
	started := time.Now()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"e2e.meshkeeper.io/restartedAt":%q}}}}}`, started.Format(time.RFC3339Nano))
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctxFor(t, 20*time.Second), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctxFor(t, 3*time.Minute), "rolling restart done, old pods gone", func(ctx context.Context) error {
		if err := deploymentReady(cs, ns, name)(ctx); err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if before[p.Name] {
				return fmt.Errorf("old pod %s still there", p.Name)
			}
		}
		return nil
	})
	took := time.Since(started)
	t.Logf("FIGURE abrupt rolling restart of 3 replicas took %.0fs", took.Seconds())
	if took > abruptLoad-10*time.Second {
		t.Fatalf("the restart (%s) outlasted the load window (%s): widen it", took, abruptLoad)
	}
	if load, err := cs.CoreV1().Pods(ns).Get(ctxFor(t, 10*time.Second), "abrupt-load", metav1.GetOptions{}); err == nil {
		if fams, err := proxyFamilies(ctxFor(t, 10*time.Second), load.Status.PodIP); err == nil {
			t.Logf("FIGURE client proxy retries during the restart: sent=%v no-budget=%v",
				sumCounter(fams, contract.MetricRetriesTotal, map[string]string{contract.LabelResult: contract.RetrySent}),
				sumCounter(fams, contract.MetricRetriesTotal, map[string]string{contract.LabelResult: contract.RetryNoBudget}))
		}
	}
	requireClean(t, wait())
}

// podNames lists the names of the pods of a selector, terminating ones included.
func podNames(t testing.TB, cs kubernetes.Interface, ns, selector string) map[string]bool {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctxFor(t, 20*time.Second), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		out[p.Name] = true
	}
	return out
}

func podRunning(cs kubernetes.Interface, ns, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != "Running" {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	}
}
