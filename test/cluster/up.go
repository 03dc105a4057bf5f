package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshkeeper/meshkeeper/test/cluster/addons"
	"github.com/meshkeeper/meshkeeper/test/cluster/hostfx"
	"github.com/meshkeeper/meshkeeper/test/cluster/proc"
)

// processMargin lets the reaper's graceful Down run before `timeout` kills.
const processMargin = 5 * time.Minute

// Up starts the cluster and returns the admin kubeconfig path once the node,
// the default ServiceAccount and CoreDNS are ready. On failure it tears down
// what it started, keeping the logs in a directory it names in the error.
func Up(ctx context.Context, o Options) (string, error) {
	o = o.withDefaults()
	p := Paths{Root: o.WorkDir}
	start := time.Now()
	step := func(format string, args ...any) {
		o.Log("[%5.1fs] "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	if err := preflight(o, p); err != nil {
		return "", err
	}
	if err := hostfx.EnsurePackages(step); err != nil {
		return "", err
	}
	step("locating etcd/Kubernetes and CoreDNS binaries (built once into the cache)")
	kubeBin, err := toolsScript(o.RepoDir)
	if err != nil {
		return "", err
	}
	corednsBin, err := toolsScript(o.RepoDir, "coredns")
	if err != nil {
		return "", err
	}
	snap, err := hostfx.Take()
	if err != nil {
		return "", err
	}
	st := &State{StartedAt: start, Deadline: start.Add(o.Lifetime), KubeBin: kubeBin, Snapshot: snap}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return "", err
	}
	if err := claimState(p.State(), st); err != nil {
		return "", err
	}
	if err := up(ctx, o, p, st, corednsBin, step); err != nil {
		logs := filepath.Join(os.TempDir(), "meshkeeper-cluster-failed-"+time.Now().Format("20060102-150405"))
		step("up failed: %v; tearing down (logs kept in %s)", err, logs)
		if derr := Down(context.Background(), Options{WorkDir: o.WorkDir, Log: o.Log}, DownOptions{KeepLogsIn: logs}); derr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w", derr))
		}
		return "", fmt.Errorf("%w (component logs: %s)", err, logs)
	}
	step("cluster ready; kubeconfig %s; processes end by %s", p.AdminKubeconfig(), st.Deadline.Format(time.RFC3339))
	return p.AdminKubeconfig(), nil
}

func preflight(o Options, p Paths) error {
	if os.Geteuid() != 0 {
		return errors.New("the local cluster needs root (network namespaces, bridges, cgroups)")
	}
	if _, err := os.Stat(p.State()); err == nil {
		return errors.New("a cluster is already running here (or a previous run was not cleaned up): run `down` first")
	}
	for _, b := range []string{NodeBridge, PodBridge} {
		if hostfx.LinkExists(b) {
			return fmt.Errorf("interface %s exists: another cluster owns this host", b)
		}
	}
	if chains := hostfx.KubeChainsPresent(); len(chains) > 0 {
		return fmt.Errorf("KUBE-* netfilter chains already exist (%v): another Kubernetes runs here", chains)
	}
	return hostfx.PortsFree(clusterPorts)
}

func up(ctx context.Context, o Options, p Paths, st *State, corednsBin string, step func(string, ...any)) error {
	for _, d := range []string{p.PKI(), p.Kubeconfigs(), p.Logs(), p.Config(), p.Bin(), p.Images(),
		p.CNIConfDir(), p.CNIIPAMDir(), p.KubeletRoot(), p.PodLogs(), filepath.Dir(p.ContainerdSocket())} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := startReaper(o, p, st); err != nil {
		return err
	}
	step("writing certificates, kubeconfigs and configs")
	if err := writePKI(p); err != nil {
		return err
	}
	if err := writeConfigs(p); err != nil {
		return err
	}
	step("node IP %s on bridge %s, services %s, egress guard on %v", NodeIP, NodeBridge, ServiceCIDR, st.Snapshot.Uplinks)
	if err := hostfx.CreateNodeBridge(NodeBridge, NodeIP, ServiceCIDR); err != nil {
		return err
	}
	if err := hostfx.InstallGuard(GuardCIDR, st.Snapshot.Uplinks); err != nil {
		return err
	}
	lifetime := time.Until(st.Deadline) + processMargin
	start := func(c component) error {
		r, err := proc.Start(c.name, c.bin, c.args, filepath.Join(p.Logs(), c.name+".log"), lifetime, nil)
		if err != nil {
			return err
		}
		st.Processes = append(st.Processes, r)
		return saveState(p.State(), st)
	}

	step("starting containerd")
	if err := start(containerd(p)); err != nil {
		return err
	}
	if err := poll(ctx, step, "containerd answers", 30*time.Second, containerdUp(p)); err != nil {
		return err
	}
	step("building and importing the pause and CoreDNS images")
	if err := importSystemImages(ctx, o, p, corednsBin); err != nil {
		return err
	}

	step("starting etcd and kube-apiserver")
	for _, c := range []component{etcd(p, st.KubeBin), apiServer(p, st.KubeBin)} {
		if err := start(c); err != nil {
			return err
		}
	}
	cs, err := AdminClient(p.AdminKubeconfig())
	if err != nil {
		return err
	}
	if err := poll(ctx, step, "kube-apiserver ready", 90*time.Second, apiReady(cs)); err != nil {
		return err
	}
	step("starting controller-manager, scheduler, kubelet, kube-proxy")
	for _, c := range []component{controllerManager(p, st.KubeBin), scheduler(p, st.KubeBin), kubelet(p, st.KubeBin), kubeProxy(p, st.KubeBin)} {
		if err := start(c); err != nil {
			return err
		}
	}
	if err := poll(ctx, step, "node "+NodeName+" Ready", 90*time.Second, nodeReady(cs)); err != nil {
		return err
	}
	if err := poll(ctx, step, "default ServiceAccount exists", 60*time.Second, defaultServiceAccount(cs)); err != nil {
		return err
	}
	step("installing CoreDNS (Service kube-dns at %s)", DNSServiceIP)
	if err := addons.InstallCoreDNS(ctx, cs, CoreDNSImage, DNSServiceIP, ClusterDomain); err != nil {
		return err
	}
	if err := poll(ctx, step, "CoreDNS Ready", 90*time.Second, coreDNSReady(cs)); err != nil {
		return err
	}
	st.Ready = true
	return saveState(p.State(), st)
}

// containerdUp checks that containerd serves its socket.
func containerdUp(p Paths) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		if _, err := ctrCommand(ctx, p, "version"); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
}

// startReaper launches `meshcluster reap`, which runs Down at the deadline.
func startReaper(o Options, p Paths, st *State) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Copy this binary: the caller's may be a temporary `go run` build.
	bin := filepath.Join(p.Bin(), "meshcluster")
	if err := copyFile(self, bin); err != nil {
		return err
	}
	r, err := proc.Start("reaper", bin, []string{"reap", "-work-dir", o.WorkDir},
		filepath.Join(p.Logs(), "reaper.log"), time.Until(st.Deadline)+2*processMargin, nil)
	if err != nil {
		return err
	}
	st.Reaper = &r
	return saveState(p.State(), st)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
