package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CollectLogs copies every component log, every container log the kubelet
// kept and the cluster's events into dir, for diagnosing a failed run.
func CollectLogs(ctx context.Context, o Options, dir string) error {
	o = o.withDefaults()
	p := Paths{Root: o.WorkDir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := copyTree(p.Logs(), filepath.Join(dir, "components")); err != nil {
		return err
	}
	_ = copyTree(p.PodLogs(), filepath.Join(dir, "pods"))
	if cs, err := AdminClient(p.AdminKubeconfig()); err == nil {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if ev, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{}); err == nil {
			var b strings.Builder
			for _, e := range ev.Items {
				fmt.Fprintf(&b, "%s %s/%s %s %s: %s\n", e.LastTimestamp.Format(time.RFC3339), e.InvolvedObject.Namespace,
					e.InvolvedObject.Name, e.Type, e.Reason, e.Message)
			}
			_ = os.WriteFile(filepath.Join(dir, "events.txt"), []byte(b.String()), 0o644)
		}
		if pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
			var b strings.Builder
			for _, pod := range pods.Items {
				fmt.Fprintf(&b, "%s/%s %s node=%s ip=%s\n", pod.Namespace, pod.Name, pod.Status.Phase, pod.Spec.NodeName, pod.Status.PodIP)
				for _, c := range pod.Status.ContainerStatuses {
					fmt.Fprintf(&b, "  %s ready=%v restarts=%d state=%+v\n", c.Name, c.Ready, c.RestartCount, c.State)
				}
			}
			_ = os.WriteFile(filepath.Join(dir, "pods.txt"), []byte(b.String()), 0o644)
		}
	}
	return nil
}

// copyTree copies regular files below src into dst, following the kubelet's
// symlinked log files.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return nil // a log rotated away mid-walk is not worth failing for
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
}
