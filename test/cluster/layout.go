// Package cluster runs a real single-node Kubernetes on this machine without a
// container daemon: containerd, etcd, the control plane, a kubelet, kube-proxy
// and CoreDNS, all bound to addresses in 198.18.0.0/15 on bridges of their own.
// Up, Down and Status are the whole interface; cmd/meshcluster wraps them.
package cluster

import (
	"os"
	"path/filepath"
	"time"
)

// Addresses and names. Everything lives in 198.18.0.0/15 (RFC 2544 benchmarking
// space) on bridges owned by the harness, so no packet has a reason to leave.
const (
	NodeName   = "meshkeeper"
	NodeIP     = "198.18.0.1"
	NodeBridge = "mk-node0" // empty bridge carrying only the node IP
	PodBridge  = "mk-pods0" // created by the bridge CNI plugin
	PodCIDR    = "198.18.10.0/24"
	PodGateway = "198.18.10.1"
	// ServiceCIDR is routed onto NodeBridge so untranslated service traffic dies here.
	ServiceCIDR        = "198.19.0.0/24"
	APIServerServiceIP = "198.19.0.1"
	DNSServiceIP       = "198.19.0.10"
	// GuardCIDR is the range whose forwarded packets must never leave via the uplink.
	GuardCIDR     = "198.18.0.0/15"
	ClusterDomain = "cluster.local"
)

// Ports on loopback or the node IP; all checked free before Up.
const (
	APIServerPort         = 6443
	EtcdClientPort        = 23790
	EtcdPeerPort          = 23800
	ControllerManagerPort = 10257
	SchedulerPort         = 10259
	KubeletPort           = 10250
	KubeletHealthzPort    = 10248
	KubeProxyHealthzPort  = 10256
	KubeProxyMetricsPort  = 10249
)

// DefaultWorkDir holds every file the cluster writes (state, certificates,
// containerd's root, etcd data, logs). Down removes it.
const DefaultWorkDir = "/var/lib/meshkeeper-cluster"

// Options tune one cluster run.
type Options struct {
	// WorkDir defaults to DefaultWorkDir (or $MESHKEEPER_CLUSTER_DIR).
	WorkDir string
	// RepoDir is the meshkeeper checkout (for test/tools/build.sh and the pause image).
	RepoDir string
	// Lifetime bounds every process the cluster starts; a reaper runs Down when it
	// expires, so nothing outlives a crashed or forgotten run.
	Lifetime time.Duration
	// Log receives progress lines.
	Log func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.WorkDir == "" {
		o.WorkDir = os.Getenv("MESHKEEPER_CLUSTER_DIR")
	}
	if o.WorkDir == "" {
		o.WorkDir = DefaultWorkDir
	}
	if o.RepoDir == "" {
		o.RepoDir = "."
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 4 * time.Hour
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	return o
}

// Paths are the files and directories under the work dir.
type Paths struct{ Root string }

func (p Paths) join(elem ...string) string {
	return filepath.Join(append([]string{p.Root}, elem...)...)
}

func (p Paths) State() string            { return p.join("state.json") }
func (p Paths) PKI() string              { return p.join("pki") }
func (p Paths) Kubeconfigs() string      { return p.join("kubeconfig") }
func (p Paths) AdminKubeconfig() string  { return p.join("kubeconfig", "admin.kubeconfig") }
func (p Paths) Logs() string             { return p.join("logs") }
func (p Paths) Config() string           { return p.join("config") }
func (p Paths) Bin() string              { return p.join("bin") }
func (p Paths) Images() string           { return p.join("images") }
func (p Paths) EtcdData() string         { return p.join("etcd") }
func (p Paths) ContainerdRoot() string   { return p.join("containerd", "root") }
func (p Paths) ContainerdState() string  { return p.join("containerd", "state") }
func (p Paths) ContainerdSocket() string { return p.join("containerd", "containerd.sock") }
func (p Paths) RuncRoot() string         { return p.join("containerd", "runc") }
func (p Paths) ContainerdOpt() string    { return p.join("containerd", "opt") }
func (p Paths) CNIConfDir() string       { return p.join("cni", "net.d") }
func (p Paths) CNIIPAMDir() string       { return p.join("cni", "ipam") }
func (p Paths) KubeletRoot() string      { return p.join("kubelet") }
func (p Paths) PodLogs() string          { return p.join("pod-logs") }
