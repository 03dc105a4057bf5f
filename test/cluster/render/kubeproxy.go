package render

// KubeProxy is the input of the KubeProxyConfiguration.
type KubeProxy struct {
	Kubeconfig, HostnameOverride, ClusterCIDR, NodePortAddress, BindAddress string
	HealthzPort, MetricsPort                                                int
}

// WriteKubeProxy writes an iptables-mode configuration that changes no sysctls
// (conntrack sizing zeroed) and opens node ports only on the node IP.
func WriteKubeProxy(path string, k KubeProxy) error { return write(path, kubeProxyTmpl, k) }

const kubeProxyTmpl = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
bindAddress: {{.BindAddress}}
hostnameOverride: {{.HostnameOverride}}
clientConnection:
  kubeconfig: {{.Kubeconfig}}
clusterCIDR: {{.ClusterCIDR}}
detectLocalMode: ClusterCIDR
nodePortAddresses:
- {{.NodePortAddress}}
healthzBindAddress: 127.0.0.1:{{.HealthzPort}}
metricsBindAddress: 127.0.0.1:{{.MetricsPort}}
iptables:
  localhostNodePorts: false
  masqueradeAll: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`
