package render

// Kubelet is the input of the KubeletConfiguration.
type Kubelet struct {
	Address, ClientCA, TLSCert, TLSKey, RuntimeSocket, PodLogsDir, ClusterDNS, ClusterDomain string
	Port, HealthzPort                                                                        int
}

// WriteKubelet writes a KubeletConfiguration for cgroup v1 with the cgroupfs
// driver, without host iptables chains and without image GC pressure.
func WriteKubelet(path string, k Kubelet) error { return write(path, kubeletTmpl, k) }

const kubeletTmpl = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{.Address}}
port: {{.Port}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{.HealthzPort}}
tlsCertFile: {{.TLSCert}}
tlsPrivateKeyFile: {{.TLSKey}}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{.ClientCA}}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{{.RuntimeSocket}}
cgroupDriver: cgroupfs
# This machine kind runs cgroup v1 (hybrid); 1.36 needs an explicit opt-in.
failCgroupV1: false
failSwapOn: false
# Otherwise the kubelet writes KUBE-FIREWALL chains into the host's tables.
makeIPTablesUtilChains: false
# podLogsDir (not podLogsDirectory): unknown names are silently ignored.
podLogsDir: {{.PodLogsDir}}
clusterDNS:
- {{.ClusterDNS}}
clusterDomain: {{.ClusterDomain}}
# Pods never inherit the host's resolvers: nothing may leave the machine.
resolvConf: ""
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
serializeImagePulls: false
# Mounted ConfigMaps (the mesh's trust bundle) follow changes within ~10s
# instead of the default minute, so trust rotations finish quickly in tests.
syncFrequency: 10s
configMapAndSecretChangeDetectionStrategy: Watch
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
maxPods: 110
`
