package cluster

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/test/cluster/hostfx"
	"github.com/meshkeeper/meshkeeper/test/cluster/proc"
)

// Status writes a human-readable report and returns ErrNoCluster when none runs.
func Status(ctx context.Context, o Options, w io.Writer) error {
	o = o.withDefaults()
	p := Paths{Root: o.WorkDir}
	st, err := loadState(p.State())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "work dir:   %s\nkubeconfig: %s\nstarted:    %s (ready=%v)\nprocesses end by: %s\n",
		o.WorkDir, p.AdminKubeconfig(), st.StartedAt.Format(time.RFC3339), st.Ready, st.Deadline.Format(time.RFC3339))
	all := st.Processes
	if st.Reaper != nil {
		all = append(all, *st.Reaper)
	}
	for _, r := range all {
		state := "running"
		if !proc.Alive(r) {
			state = "NOT RUNNING"
		}
		fmt.Fprintf(w, "  %-24s pid %-7d %s  log %s\n", r.Name, r.PID, state, r.Log)
	}
	cs, err := AdminClient(p.AdminKubeconfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if ok, why := nodeReady(cs)(ctx); ok {
		fmt.Fprintf(w, "node %s: Ready\n", NodeName)
	} else {
		fmt.Fprintf(w, "node %s: not ready (%s)\n", NodeName, why)
	}
	if pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
		fmt.Fprintf(w, "pods (%d):\n", len(pods.Items))
		for _, pod := range pods.Items {
			fmt.Fprintf(w, "  %-20s %-50s %-10s ready=%v %s\n", pod.Namespace, pod.Name, pod.Status.Phase, podReady(&pod), pod.Status.PodIP)
		}
	}
	fmt.Fprintf(w, "egress guard:\n%s\n", hostfx.GuardDrops())
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
