package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/test/cluster/hostfx"
	"github.com/meshkeeper/meshkeeper/test/cluster/proc"
)

// DownOptions tune a teardown.
type DownOptions struct {
	// KeepLogsIn, when set, receives a copy of every component log first.
	KeepLogsIn string
	// FromReaper is set by the reaper so it does not stop itself.
	FromReaper bool
}

// Down stops every process the cluster started (pods first, then the
// components in reverse order, apiserver before etcd), then restores every host
// side effect recorded at Up and removes the work dir. It is idempotent.
func Down(ctx context.Context, o Options, d DownOptions) error {
	o = o.withDefaults()
	p := Paths{Root: o.WorkDir}
	st, err := loadState(p.State())
	if errors.Is(err, ErrNoCluster) {
		o.Log("no cluster state in %s: nothing to stop", o.WorkDir)
		return nil
	}
	if err != nil {
		return err
	}
	start := time.Now()
	step := func(format string, args ...any) {
		o.Log("[%5.1fs] "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	var errs []error
	add := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	if st.Reaper != nil && !d.FromReaper {
		add("stop reaper", proc.Stop(*st.Reaper, 5*time.Second))
	}
	if d.KeepLogsIn != "" {
		add("collect logs", CollectLogs(ctx, o, d.KeepLogsIn))
	}
	drainPods(ctx, p, st, step)

	step("stopping cluster processes")
	procs := slices.Clone(st.Processes)
	slices.Reverse(procs)
	for _, r := range procs {
		if r.Name == "containerd" {
			removeContainers(ctx, p, st, step)
		}
		add("stop "+r.Name, proc.Stop(r, 20*time.Second))
	}
	killShims(p, step)

	if _, err := os.Stat(kubeProxyConfig(p)); err == nil && st.KubeBin != "" {
		step("kube-proxy --cleanup")
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		out, err := exec.CommandContext(cctx, filepath.Join(st.KubeBin, "kube-proxy"), "--cleanup", "--config="+kubeProxyConfig(p)).CombinedOutput()
		cancel()
		if err != nil {
			add("kube-proxy --cleanup", fmt.Errorf("%w: %s", err, lastLines(string(out), 5)))
		}
	}
	add("restore host", hostfx.Restore(st.Snapshot, hostfx.Owned{
		WorkDir: o.WorkDir, Bridges: []string{PodBridge, NodeBridge}, GuardFor: GuardCIDR,
	}, step))
	if left := hostfx.MountsUnder(o.WorkDir); len(left) > 0 {
		add("work dir", fmt.Errorf("still mounted, not removed: %v", left))
	} else {
		add("remove work dir", os.RemoveAll(o.WorkDir))
	}
	step("cluster down")
	return errors.Join(errs...)
}

// drainPods deletes every pod through the API while the kubelet still runs, so
// the kubelet tears sandboxes down properly (CNI DEL, netns, volumes). The
// controller-manager stops first, so nothing recreates them.
func drainPods(ctx context.Context, p Paths, st *State, step func(string, ...any)) {
	api, okA := st.process("kube-apiserver")
	kl, okK := st.process("kubelet")
	if !okA || !okK || !proc.Alive(api) || !proc.Alive(kl) {
		return
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		if r, ok := st.process(name); ok {
			_ = proc.Stop(r, 10*time.Second)
		}
	}
	cs, err := AdminClient(p.AdminKubeconfig())
	if err != nil {
		return
	}
	step("deleting all pods so the kubelet tears their sandboxes down")
	ns, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	grace := int64(1)
	for _, n := range ns.Items {
		_ = cs.CoreV1().Pods(n.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
	}
	_ = poll(ctx, step, "all pods gone", 60*time.Second, func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods left", len(pods.Items))
	})
}

// removeContainers kills and deletes any task/container still known to
// containerd (the kubelet was not there to do it), before containerd stops.
func removeContainers(ctx context.Context, p Paths, st *State, step func(string, ...any)) {
	r, ok := st.process("containerd")
	if !ok || !proc.Alive(r) {
		return
	}
	out, err := ctrCommand(ctx, p, "tasks", "ls", "-q")
	if err == nil {
		for _, id := range strings.Fields(out) {
			step("killing leftover container task %s", id)
			_, _ = ctrCommand(ctx, p, "tasks", "kill", "-s", "SIGKILL", id)
			_, _ = ctrCommand(ctx, p, "tasks", "delete", "-f", id)
		}
	}
	if out, err := ctrCommand(ctx, p, "containers", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = ctrCommand(ctx, p, "containers", "delete", id)
		}
	}
}

// killShims SIGKILLs containerd shims serving this cluster's containerd (their
// command line names its socket); they run detached from containerd.
func killShims(p Paths, step func(string, ...any)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := string(b)
		if strings.Contains(cmd, "containerd-shim") && strings.Contains(cmd, p.ContainerdSocket()) {
			step("killing leftover shim pid %d", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// ctrCommand runs ctr against the cluster's containerd in the CRI namespace.
func ctrCommand(ctx context.Context, p Paths, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	full := append([]string{"--address", p.ContainerdSocket(), "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
