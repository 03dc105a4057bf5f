package cluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/meshkeeper/meshkeeper/test/cluster/pki"
	"github.com/meshkeeper/meshkeeper/test/cluster/render"
)

// component is one long-running process of the cluster.
type component struct {
	name string
	bin  string
	args []string
}

func apiServerURL() string { return "https://" + net.JoinHostPort(NodeIP, strconv.Itoa(APIServerPort)) }

// writePKI issues every certificate and kubeconfig the components use.
func writePKI(p Paths) error {
	dir := p.PKI()
	ca, err := pki.NewCA(dir, "meshkeeper-local-ca")
	if err != nil {
		return err
	}
	nodeIP := net.ParseIP(NodeIP)
	leaves := []pki.Leaf{
		{Name: "apiserver", CommonName: "kube-apiserver", Server: true,
			DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain, "localhost"},
			IPs:      []net.IP{nodeIP, net.ParseIP(APIServerServiceIP), net.IPv4(127, 0, 0, 1)}},
		{Name: "apiserver-kubelet-client", CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		{Name: "admin", CommonName: "meshkeeper-admin", Organization: []string{"system:masters"}},
		{Name: "controller-manager", CommonName: "system:kube-controller-manager"},
		{Name: "scheduler", CommonName: "system:kube-scheduler"},
		{Name: "kube-proxy", CommonName: "system:kube-proxy"},
		{Name: "kubelet-client", CommonName: "system:node:" + NodeName, Organization: []string{"system:nodes"}},
		{Name: "kubelet-serving", CommonName: "system:node:" + NodeName, Server: true,
			DNSNames: []string{NodeName}, IPs: []net.IP{nodeIP}},
	}
	for _, l := range leaves {
		if err := ca.Issue(dir, l); err != nil {
			return err
		}
	}
	if err := pki.WriteSigningKey(dir, "sa"); err != nil {
		return err
	}
	for _, kc := range []struct{ file, leaf string }{
		{"admin", "admin"}, {"controller-manager", "controller-manager"}, {"scheduler", "scheduler"},
		{"kube-proxy", "kube-proxy"}, {"kubelet", "kubelet-client"},
	} {
		path := filepath.Join(p.Kubeconfigs(), kc.file+".kubeconfig")
		if err := pki.WriteKubeconfig(path, apiServerURL(), dir, kc.leaf); err != nil {
			return err
		}
	}
	return nil
}

// CNIBinDir is where containerd finds CNI plugins: Debian's
// containernetworking-plugins package installs them there.
const CNIBinDir = "/usr/lib/cni"

// NodeConflist is the node's CNI configuration in Paths.CNIConfDir, the
// conflist a chained plugin (meshkeeper-cni) is inserted into.
const NodeConflist = "10-meshkeeper.conflist"

// writeConfigs renders containerd, CNI, kubelet and kube-proxy configuration.
func writeConfigs(p Paths) error {
	if err := render.WriteContainerd(filepath.Join(p.Config(), "containerd.toml"), render.Containerd{
		Root: p.ContainerdRoot(), State: p.ContainerdState(), Socket: p.ContainerdSocket(),
		RuncRoot: p.RuncRoot(), OptDir: p.ContainerdOpt(),
		CNIBinDir: CNIBinDir, CNIConfDir: p.CNIConfDir(), SandboxImage: PauseImage,
	}); err != nil {
		return err
	}
	if err := render.WriteCNI(filepath.Join(p.CNIConfDir(), NodeConflist), render.CNI{
		Bridge: PodBridge, Subnet: PodCIDR, Gateway: PodGateway, IPAMDir: p.CNIIPAMDir(),
	}); err != nil {
		return err
	}
	if err := render.WriteKubelet(filepath.Join(p.Config(), "kubelet.yaml"), render.Kubelet{
		Address: NodeIP, Port: KubeletPort, HealthzPort: KubeletHealthzPort,
		ClientCA: filepath.Join(p.PKI(), "ca.crt"),
		TLSCert:  filepath.Join(p.PKI(), "kubelet-serving.crt"), TLSKey: filepath.Join(p.PKI(), "kubelet-serving.key"),
		RuntimeSocket: p.ContainerdSocket(), PodLogsDir: p.PodLogs(),
		ClusterDNS: DNSServiceIP, ClusterDomain: ClusterDomain,
	}); err != nil {
		return err
	}
	return render.WriteKubeProxy(kubeProxyConfig(p), render.KubeProxy{
		Kubeconfig: filepath.Join(p.Kubeconfigs(), "kube-proxy.kubeconfig"), HostnameOverride: NodeName,
		ClusterCIDR: PodCIDR, NodePortAddress: NodeIP + "/32", BindAddress: NodeIP,
		HealthzPort: KubeProxyHealthzPort, MetricsPort: KubeProxyMetricsPort,
	})
}

func kubeProxyConfig(p Paths) string { return filepath.Join(p.Config(), "kube-proxy.yaml") }

func containerd(p Paths) component {
	return component{"containerd", "containerd", []string{"--config", filepath.Join(p.Config(), "containerd.toml")}}
}

func etcd(p Paths, bin string) component {
	client := fmt.Sprintf("http://127.0.0.1:%d", EtcdClientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", EtcdPeerPort)
	return component{"etcd", filepath.Join(bin, "etcd"), []string{
		"--name=meshkeeper", "--data-dir=" + p.EtcdData(),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=meshkeeper=" + peer,
		// A throwaway cluster: durability is not worth the fsync latency.
		"--unsafe-no-fsync", "--log-level=warn",
	}}
}

func apiServer(p Paths, bin string) component {
	k := func(n string) string { return filepath.Join(p.PKI(), n) }
	return component{"kube-apiserver", filepath.Join(bin, "kube-apiserver"), []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", EtcdClientPort),
		// Bound to the node IP so pods reach it through the `kubernetes` Service.
		"--bind-address=" + NodeIP, "--advertise-address=" + NodeIP,
		fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--client-ca-file=" + k("ca.crt"),
		"--tls-cert-file=" + k("apiserver.crt"), "--tls-private-key-file=" + k("apiserver.key"),
		"--kubelet-client-certificate=" + k("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + k("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + k("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc." + ClusterDomain,
		"--service-account-key-file=" + k("sa.pub"),
		"--service-account-signing-key-file=" + k("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
	}}
}

func controllerManager(p Paths, bin string) component {
	kc := filepath.Join(p.Kubeconfigs(), "controller-manager.kubeconfig")
	k := func(n string) string { return filepath.Join(p.PKI(), n) }
	return component{"kube-controller-manager", filepath.Join(bin, "kube-controller-manager"), []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", ControllerManagerPort),
		"--leader-elect=false",
		"--service-account-private-key-file=" + k("sa.key"), "--root-ca-file=" + k("ca.crt"),
		"--cluster-signing-cert-file=" + k("ca.crt"), "--cluster-signing-key-file=" + k("ca.key"),
		"--use-service-account-credentials=true",
		"--allocate-node-cidrs=false", "--service-cluster-ip-range=" + ServiceCIDR,
		"--profiling=false",
	}}
}

func scheduler(p Paths, bin string) component {
	kc := filepath.Join(p.Kubeconfigs(), "scheduler.kubeconfig")
	return component{"kube-scheduler", filepath.Join(bin, "kube-scheduler"), []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", SchedulerPort),
		"--leader-elect=false", "--profiling=false",
	}}
}

func kubelet(p Paths, bin string) component {
	return component{"kubelet", filepath.Join(bin, "kubelet"), []string{
		"--config=" + filepath.Join(p.Config(), "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(p.Kubeconfigs(), "kubelet.kubeconfig"),
		"--root-dir=" + p.KubeletRoot(),
		// The kubelet rejects a loopback node IP; this one sits on NodeBridge.
		"--node-ip=" + NodeIP, "--hostname-override=" + NodeName,
	}}
}

func kubeProxy(p Paths, bin string) component {
	return component{"kube-proxy", filepath.Join(bin, "kube-proxy"), []string{"--config=" + kubeProxyConfig(p)}}
}

// clusterPorts are checked free before Up.
var clusterPorts = []int{APIServerPort, EtcdClientPort, EtcdPeerPort, ControllerManagerPort, SchedulerPort,
	KubeletPort, KubeletHealthzPort, KubeProxyHealthzPort, KubeProxyMetricsPort}
