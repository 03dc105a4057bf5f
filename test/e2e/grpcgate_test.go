//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/test/images"
)

// grpcLoadSummary mirrors test/apps/sampleapp's GRPCLoadSummary.
type grpcLoadSummary struct {
	Sent, Dropped int
	Codes         map[string]int
	Errors        map[string]int
}

// grpcNamespace holds the gRPC server the gRPC upgrade cases gate on; the
// pinned canary wave is this namespace, so its gate judges the gRPC calls.
const grpcNamespace = "e2e-grpc"

// grpcServer creates grpcNamespace with a 2-replica protocols server (as the
// HTTP backend: a rolling restart keeps one serving) and returns its gRPC target.
func grpcServer(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	meshedNamespace(t, cs, grpcNamespace)
	protocolServerN(t, cs, grpcNamespace, 2)
	eventually(t, ctxFor(t, 3*time.Minute), "protocols server ready", deploymentReady(cs, grpcNamespace, "protocols"))
	return "protocols." + grpcNamespace + ".svc:9090"
}

// testGRPCFaultyUpgrade: with only gRPC traffic (real grpc-go calls, HTTP 200
// whatever their status), an upgrade to proxies that fail 30% of calls with
// UNAVAILABLE is stopped by the canary gate and rolled back on its own.
func testGRPCFaultyUpgrade(t *testing.T, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	const ns = grpcNamespace
	target := grpcServer(t, cs)
	before := len(upgradeHistory(getMI(t, dyn, name)))
	wait := grpcLoadPod(t, cs, ns, "grpc-faulty-load", target, loadRPS, 150*time.Second)
	time.Sleep(5 * time.Second)
	patchMI(t, dyn, name, `{"spec":{"version":"0.2.0",`+pinnedUpgradeSpec(ns)+`,"controlPlane":{"values":{"proxy":{"env":{"`+
		contract.EnvFaultFailureRate+`":"0.3","`+contract.EnvFaultProxyVersion+`":"0.2.0"}}}}}}`)
	rec := waitUpgradeResult(t, dyn, name, before, 6*time.Minute)
	if rec["result"] != "RolledBack" {
		t.Fatalf("history %v, want RolledBack", rec)
	}
	reason := findCondition(getMI(t, dyn, name), "Degraded")
	if reason["status"] != "True" || !strings.Contains(fmt.Sprint(reason["message"]), "success rate") {
		t.Fatalf("Degraded should say which gate failed with its numbers: %v", reason)
	}
	t.Logf("FIGURE grpc-faulty-upgrade verdict: %v", reason["message"])
	requireCanaryRejected(t, dyn, name, rec)
	eventually(t, ctxFor(t, 3*time.Minute), "control plane and proxies back on 0.1.0", func(ctx context.Context) error {
		if v := statusString(getMI(t, dyn, name), "installedVersion"); v != "0.1.0" {
			return fmt.Errorf("installed %s", v)
		}
		if err := proxiesAgreeIn(cs, []string{ns}, "protocols", map[string]string{contract.LabelVersion: "0.1.0"})(ctx); err != nil {
			return err
		}
		return proxiesAgree(cs, map[string]string{contract.LabelVersion: "0.1.0"})(ctx)
	})
	s := wait()
	if s.Codes["Unavailable"] == 0 {
		t.Errorf("the gRPC client never saw the faulty proxies' UNAVAILABLE: %+v", s)
	}
	recovered := grpcLoadPod(t, cs, ns, "grpc-recovered-load", target, loadRPS, 20*time.Second)()
	if recovered.Sent == 0 || recovered.Codes["OK"] != recovered.Sent {
		t.Errorf("gRPC traffic after the rollback: %+v, want every call OK", recovered)
	}
	patchMI(t, dyn, name, `{"spec":{"version":"0.1.0",`+unpinWaves+`,"controlPlane":{"values":{"proxy":{"env":null}}}}}`)
	eventually(t, ctxFor(t, 2*time.Minute), "failed upgrade acknowledged", miCondition(dyn, name, "Ready"))
	deleteNamespace(t, cs, ns) // the next case creates it afresh
}

// grpcLoadPod starts a meshed one-shot gRPC load generator; the returned
// function waits for it and returns its summary.
func grpcLoadPod(t testing.TB, cs kubernetes.Interface, ns, name, target string, rps int, d time.Duration) func() grpcLoadSummary {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "grpcload"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "app", Image: images.SampleAppImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"grpcload", "-target", target, "-rps", fmt.Sprint(rps), "-duration", d.String()}}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctxFor(t, 30*time.Second), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return func() grpcLoadSummary {
		t.Helper()
		ctx := ctxFor(t, d+3*time.Minute)
		eventually(t, ctx, "gRPC load generator "+name+" finished", func(ctx context.Context) error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, st := range p.Status.ContainerStatuses {
				if st.Name == "app" && st.State.Terminated != nil {
					return nil
				}
			}
			return fmt.Errorf("phase %s", p.Status.Phase)
		})
		logs, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var s grpcLoadSummary
		i := strings.Index(string(logs), "{")
		if i < 0 || json.Unmarshal(logs[i:], &s) != nil {
			t.Fatalf("gRPC load summary: %s", logs)
		}
		t.Logf("FIGURE grpc load %s: sent=%d dropped=%d codes=%v errors=%v", name, s.Sent, s.Dropped, s.Codes, s.Errors)
		return s
	}
}
