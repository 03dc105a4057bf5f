package render

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestRenderedConfigsParse(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := WriteKubelet(p("kubelet.yaml"), Kubelet{Address: "198.18.0.1", Port: 10250, HealthzPort: 10248,
		ClientCA: "/ca", TLSCert: "/c", TLSKey: "/k", RuntimeSocket: "/run.sock", PodLogsDir: "/logs",
		ClusterDNS: "198.19.0.10", ClusterDomain: "cluster.local"}); err != nil {
		t.Fatal(err)
	}
	var kubelet map[string]any
	mustYAML(t, p("kubelet.yaml"), &kubelet)
	for key, want := range map[string]any{
		"failCgroupV1": false, "makeIPTablesUtilChains": false, "podLogsDir": "/logs",
		"containerRuntimeEndpoint": "unix:///run.sock", "cgroupDriver": "cgroupfs",
	} {
		if kubelet[key] != want {
			t.Errorf("kubelet %s = %v, want %v", key, kubelet[key], want)
		}
	}

	if err := WriteKubeProxy(p("kp.yaml"), KubeProxy{Kubeconfig: "/kc", HostnameOverride: "n", ClusterCIDR: "198.18.10.0/24",
		NodePortAddress: "198.18.0.1/32", BindAddress: "198.18.0.1", HealthzPort: 1, MetricsPort: 2}); err != nil {
		t.Fatal(err)
	}
	var kp map[string]any
	mustYAML(t, p("kp.yaml"), &kp)
	if kp["mode"] != "iptables" || kp["clusterCIDR"] != "198.18.10.0/24" {
		t.Errorf("kube-proxy config: %v", kp)
	}

	if err := WriteCNI(p("cni.conflist"), CNI{Bridge: "mk-pods0", Subnet: "198.18.10.0/24", Gateway: "198.18.10.1", IPAMDir: "/ipam"}); err != nil {
		t.Fatal(err)
	}
	var cni struct {
		Plugins []map[string]any `json:"plugins"`
	}
	b, _ := os.ReadFile(p("cni.conflist"))
	if err := json.Unmarshal(b, &cni); err != nil {
		t.Fatal(err)
	}
	if cni.Plugins[0]["ipMasq"] != false || cni.Plugins[0]["bridge"] != "mk-pods0" {
		t.Errorf("CNI bridge plugin: %v", cni.Plugins[0])
	}

	if err := WriteContainerd(p("containerd.toml"), Containerd{Root: "/r", State: "/s", Socket: "/sock", RuncRoot: "/runc",
		OptDir: "/opt", CNIBinDir: "/usr/lib/cni", CNIConfDir: "/net.d", SandboxImage: "pause:1"}); err != nil {
		t.Fatal(err)
	}
	toml, _ := os.ReadFile(p("containerd.toml"))
	for _, want := range []string{"restrict_oom_score_adj = true", `sandbox_image = "pause:1"`, `Root = "/runc"`, "SystemdCgroup = false"} {
		if !strings.Contains(string(toml), want) {
			t.Errorf("containerd config lacks %q", want)
		}
	}
}

func mustYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
