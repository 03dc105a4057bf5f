//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/test/apps/load"
	"github.com/meshkeeper/meshkeeper/test/images"
)

// installMesh deploys the operator and a MeshInstallation built from the
// sample with extra spec fields merged in, and waits until it is Ready.
func installMesh(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, spec map[string]any) string {
	t.Helper()
	if err := makeTarget(15*time.Minute, "deploy"); err != nil {
		t.Fatalf("make deploy: %v", err)
	}
	eventually(t, ctxFor(t, 3*time.Minute), "operator available", deploymentReady(cs, operatorNamespace, operatorDeployment))
	mi := readSample(t)
	merged := mergeMaps(mi.Object["spec"].(map[string]any), spec)
	mi.Object["spec"] = merged
	name := mi.GetName()
	if _, err := dyn.Resource(meshInstallations).Create(ctxFor(t, 30*time.Second), mi, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create MeshInstallation: %v", err)
	}
	eventually(t, ctxFor(t, 5*time.Minute), "MeshInstallation Ready", miCondition(dyn, name, "Ready"))
	return name
}

func uninstallMesh(t testing.TB, dyn dynamic.Interface, name string) {
	if t.Failed() {
		return // keep everything for the diagnostics
	}
	_ = dyn.Resource(meshInstallations).Delete(context.Background(), name, metav1.DeleteOptions{})
	eventually(t, ctxFor(t, 3*time.Minute), "MeshInstallation deleted", func(ctx context.Context) error {
		_, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{})
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	if err := makeTarget(5*time.Minute, "undeploy"); err != nil {
		t.Errorf("make undeploy: %v", err)
	}
}

func miCondition(dyn dynamic.Interface, name, cond string) func(context.Context) error {
	return func(ctx context.Context) error {
		obj, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return conditionTrue(obj, cond)
	}
}

func getMI(t testing.TB, dyn dynamic.Interface, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := dyn.Resource(meshInstallations).Get(ctxFor(t, 20*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func patchMI(t testing.TB, dyn dynamic.Interface, name string, patch string) {
	t.Helper()
	if _, err := dyn.Resource(meshInstallations).Patch(ctxFor(t, 20*time.Second), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
}

func mergeMaps(base, over map[string]any) map[string]any {
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = mergeMaps(bm, om)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// loadPod starts a meshed (when ns is labelled) one-shot load generator; the
// returned function waits for it and returns its own count of the requests.
func loadPod(t testing.TB, cs kubernetes.Interface, ns, name, serviceAccount, target string, rps int, d time.Duration) func() load.Summary {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "loadgen"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: serviceAccount,
			Containers: []corev1.Container{{Name: "app", Image: images.SampleAppImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: loadArgs(target, rps, d)}}},
	}
	return startLoad(t, cs, pod, d)
}

// loadArgs are the sample app's arguments for a load of rps on target for d.
func loadArgs(target string, rps int, d time.Duration) []string {
	return []string{"load", "-target", target, "-rps", fmt.Sprint(rps), "-duration", d.String(), "-timeout", "2s"}
}

// startLoad creates a load generator pod whose app runs for d, and returns
// the function that waits for it and reads its summary.
func startLoad(t testing.TB, cs kubernetes.Interface, pod *corev1.Pod, d time.Duration) func() load.Summary {
	t.Helper()
	ns, name := pod.Namespace, pod.Name
	if _, err := cs.CoreV1().Pods(ns).Create(ctxFor(t, 30*time.Second), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return func() load.Summary {
		t.Helper()
		ctx := ctxFor(t, d+3*time.Minute)
		eventually(t, ctx, "load generator "+name+" finished", func(ctx context.Context) error {
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
		var s load.Summary
		if err := json.Unmarshal(logs[strings.Index(string(logs), "{"):], &s); err != nil {
			t.Fatalf("load summary: %v\n%s", err, logs)
		}
		t.Logf("FIGURE load %s: sent=%d ok=%d failed=%d tls=%d timeouts=%d dropped=%d rps=%.1f p50=%.2fms p99=%.2fms",
			name, s.Sent, s.Successes, s.Failures, s.TLSErrors, s.Timeouts, s.Dropped, s.AchievedRPS, s.LatencyMs.P50, s.LatencyMs.P99)
		return s
	}
}

// requireClean fails unless every request the load generator sent succeeded.
func requireClean(t testing.TB, s load.Summary) {
	t.Helper()
	if s.Sent == 0 || s.Successes != s.Sent || s.Failures+s.TLSErrors+s.Timeouts+s.Dropped != 0 {
		t.Fatalf("load generator counted failures: %+v", s)
	}
	t.Logf("FIGURE success-rate=%.2f%% over %d requests", 100*float64(s.Successes)/float64(s.Sent), s.Sent)
}

// proxyFamilies scrapes a meshed pod's proxy admin endpoint from the host.
func proxyFamilies(ctx context.Context, podIP string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", podIP, contract.ProxyAdminPort, contract.MetricsPath), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// sumCounter adds the samples of a counter whose labels include match.
func sumCounter(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	var total float64
	for _, m := range fams[name].GetMetric() {
		ok := true
		for k, want := range match {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == want {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// buildInfo returns the labels of a proxy's build-info metric.
func buildInfo(fams map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, m := range fams[contract.MetricBuildInfo].GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetName()] = l.GetValue()
		}
	}
	return out
}

// meshedPods lists the running pods of a selector that carry a proxy.
func meshedPods(t testing.TB, cs kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctxFor(t, 20*time.Second), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Labels[contract.ProxyVersionLabel] != "" {
			out = append(out, p)
		}
	}
	return out
}

// waitInjection waits until the API server's calls to the injector succeed:
// the webhook fails open, so pods created before the injector's Service
// answers would start without a proxy.
func waitInjection(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	eventually(t, ctxFor(t, 2*time.Minute), "injector answering in "+ns, func(ctx context.Context) error {
		return dryRunInjected(ctx, cs, ns)
	})
}

// dryRunInjected creates a pod in ns as a server-side dry run, which goes
// through admission without creating anything, and says whether it came
// back with the proxy.
func dryRunInjected(ctx context.Context, cs kubernetes.Interface, ns string) error {
	return dryRunMeshed(ctx, cs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "injection-probe", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: images.SampleAppImage}}}})
}

// dryRunMeshed: admission (the injector, then every other admission
// control, Pod Security included) accepts probe and returns it meshed.
func dryRunMeshed(ctx context.Context, cs kubernetes.Interface, probe *corev1.Pod) error {
	ns := probe.Namespace
	out, err := cs.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return err
	}
	for _, c := range out.Spec.InitContainers {
		if c.Name == contract.ProxyContainerName {
			return nil
		}
	}
	return fmt.Errorf("a pod created in %s now would not be injected", ns)
}
