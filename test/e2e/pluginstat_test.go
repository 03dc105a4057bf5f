//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/kubectlplugin"
)

// testStatMatchesLoad: a backend answers every 10th request with 503, so the
// load generator measures a success rate of about 90%; `kubectl meshkeeper
// stat`, whose window brackets the whole load run, reports the backend's
// inbound success rate within one percentage point of it.
func testStatMatchesLoad(t testing.TB, cs kubernetes.Interface) {
	const ns, app, window = "e2e-stat", "flaky", 45 * time.Second
	meshedNamespace(t, cs, ns)
	createServiceAccount(t, cs, ns, "loadgen")
	sampleBackendArgs(t, cs, ns, app, 2, "backend", "-fail-every", "10")
	eventually(t, ctxFor(t, 3*time.Minute), "flaky backend ready", deploymentReady(cs, ns, app))

	bin := pluginBinary(t)
	type result struct {
		run pluginRun
		err error
		end time.Time
	}
	done := make(chan result, 1)
	ctx := ctxFor(t, window+time.Minute)
	go func() {
		run, err := execPlugin(ctx, bin, "stat", ns, "--by", "deploy", "--window", window.String(), "-o", "json")
		done <- result{run, err, time.Now()}
	}()
	time.Sleep(3 * time.Second) // stat's first scrape (two pods) is taken before the load starts
	s := loadPod(t, cs, ns, "stat-load", "loadgen", "http://"+app+"."+ns+".svc/", 100, 15*time.Second)()
	r := <-done
	if r.err != nil || r.run.code != 0 {
		t.Fatalf("stat: exit %d, %v\n%s", r.run.code, r.err, r.run.stderr)
	}
	requireLoadInside(t, cs, ns, "stat-load", r.end)

	var table kubectlplugin.StatTable
	if err := json.Unmarshal([]byte(r.run.stdout), &table); err != nil {
		t.Fatalf("stat -o json: %v\n%s", err, r.run.stdout)
	}
	row, ok := statRow(table, ns, "deploy/"+app)
	if !ok || row.SuccessRate == nil {
		t.Fatalf("stat has no inbound deploy/%s row with a success rate: %s", app, r.run.stdout)
	}
	measured := float64(s.Successes) / float64(s.Sent)
	if s.Failures == 0 || math.Abs(*row.SuccessRate-measured) > 0.01 || row.Requests < float64(s.Sent) {
		t.Fatalf("stat shows success rate %.4f over %.0f requests; the load generator measured %.4f over %d (%d failed): want within 0.01, with every sent request counted",
			*row.SuccessRate, row.Requests, measured, s.Sent, s.Failures)
	}
	t.Logf("FIGURE stat success-rate=%.4f requests=%.0f rps=%.1f p99=%vms; load generator success-rate=%.4f sent=%d failed=%d",
		*row.SuccessRate, row.Requests, row.RPS, deref(row.P99), measured, s.Sent, s.Failures)
	deleteNamespace(t, cs, ns) // its workloads must not be in later upgrades' plans
}

func statRow(table kubectlplugin.StatTable, ns, name string) (kubectlplugin.StatRow, bool) {
	for _, r := range table.Inbound {
		if r.Namespace == ns && r.Name == name {
			return r, true
		}
	}
	return kubectlplugin.StatRow{}, false
}

// requireLoadInside fails unless the load pod's app finished before stat's
// second scrape (stat ended at end): otherwise the window cut the run short.
func requireLoadInside(t testing.TB, cs kubernetes.Interface, ns, pod string, end time.Time) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(ctxFor(t, 10*time.Second), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Status.ContainerStatuses {
		if st.Name == "app" && st.State.Terminated != nil {
			if fin := st.State.Terminated.FinishedAt.Time; !fin.Before(end.Add(-time.Second)) {
				t.Fatalf("the load ran until %s, past stat's window (ended %s)", fin.Format(time.RFC3339), end.Format(time.RFC3339))
			}
			return
		}
	}
	t.Fatalf("load pod %s has not finished", pod)
}

func deref(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *f)
}
