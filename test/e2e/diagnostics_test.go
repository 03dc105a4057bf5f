//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// collectDiagnostics keeps, after a failure, the logs of every cluster
// component (when this run owns the cluster), of every pod and container
// (current and previous), all events and the MeshInstallations, in
// env.artifacts, and prints where.
func collectDiagnostics() {
	dir := env.artifacts
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "diagnostics:", err)
		return
	}
	if env.meshcluster != "" {
		_ = command(2*time.Minute, "", env.meshcluster, "logs", filepath.Join(dir, "cluster"))
	}
	if env.kubeconfig != "" {
		if err := apiDiagnostics(dir); err != nil {
			fmt.Fprintln(os.Stderr, "diagnostics from the API:", err)
		}
	}
	fmt.Fprintf(os.Stderr, "\n*** e2e failed: logs of every component, pod and the events are in %s ***\n\n", dir)
}

func apiDiagnostics(dir string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 20 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	podDir := filepath.Join(dir, "pod-logs")
	_ = os.MkdirAll(podDir, 0o755)
	var summary strings.Builder
	for _, p := range pods.Items {
		b, _ := yaml.Marshal(p.Status)
		fmt.Fprintf(&summary, "--- %s/%s\n%s\n", p.Namespace, p.Name, b)
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			for _, previous := range []bool{false, true} {
				logs, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: previous}).DoRaw(ctx)
				if err != nil || len(logs) == 0 {
					continue
				}
				suffix := ""
				if previous {
					suffix = ".previous"
				}
				_ = os.WriteFile(filepath.Join(podDir, p.Namespace+"_"+p.Name+"_"+c.Name+suffix+".log"), logs, 0o644)
			}
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "pods-status.yaml"), []byte(summary.String()), 0o644)
	if ev, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{}); err == nil {
		var b strings.Builder
		for _, e := range ev.Items {
			fmt.Fprintf(&b, "%s %s %s/%s %s: %s\n", e.LastTimestamp.Format(time.RFC3339), e.Type,
				e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
		_ = os.WriteFile(filepath.Join(dir, "events.txt"), []byte(b.String()), 0o644)
	}
	if out, err := output(30*time.Second, "", env.kubectl, "--kubeconfig", env.kubeconfig, "get", "meshinstallations", "-o", "yaml"); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "meshinstallations.yaml"), []byte(out), 0o644)
	}
	return nil
}
