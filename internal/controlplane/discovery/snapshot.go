package discovery

import (
	"cmp"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/inject"
)

// Inputs is the observed cluster state a snapshot is built from.
type Inputs struct {
	TrustDomain     string
	DefaultMTLSMode string
	Namespaces      []*corev1.Namespace
	Pods            []*corev1.Pod
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
}

// BuildSnapshot derives the discovery table from observed objects. Revision is
// left at zero; the publisher numbers snapshots.
func BuildSnapshot(in Inputs) contract.DiscoverySnapshot {
	nsAnnotations := make(map[string]map[string]string, len(in.Namespaces))
	for _, ns := range in.Namespaces {
		nsAnnotations[ns.Name] = ns.Annotations
	}
	pods := meshedPods(in, nsAnnotations)
	return contract.DiscoverySnapshot{Pods: pods, Services: services(in, pods, nsAnnotations)}
}

func meshedPods(in Inputs, nsAnnotations map[string]map[string]string) map[string]contract.MeshedPod {
	out := map[string]contract.MeshedPod{}
	for _, pod := range in.Pods {
		if pod.Status.Phase != corev1.PodRunning || pod.Spec.HostNetwork || !inject.IsInjected(pod) {
			continue
		}
		sa := cmp.Or(pod.Spec.ServiceAccountName, "default")
		meshed := contract.MeshedPod{
			Identity:  contract.SPIFFEID(in.TrustDomain, pod.Namespace, sa),
			Namespace: pod.Namespace,
			MTLSMode:  contract.ResolveMTLSMode(pod.Annotations, nsAnnotations[pod.Namespace], in.DefaultMTLSMode),
		}
		if ports := contract.ResolveOpaquePorts(pod.Annotations, nsAnnotations[pod.Namespace]).String(); ports != contract.DefaultOpaquePorts {
			meshed.OpaquePorts = &ports
		}
		for _, ip := range podIPs(pod) {
			out[ip] = meshed
		}
	}
	return out
}

func podIPs(pod *corev1.Pod) []string {
	if len(pod.Status.PodIPs) == 0 {
		if pod.Status.PodIP == "" {
			return nil
		}
		return []string{pod.Status.PodIP}
	}
	ips := make([]string, 0, len(pod.Status.PodIPs))
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	return ips
}

func services(in Inputs, pods map[string]contract.MeshedPod, nsAnnotations map[string]map[string]string) map[string]contract.ServiceTarget {
	slicesByService := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range in.EndpointSlices {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			key := s.Namespace + "/" + name
			slicesByService[key] = append(slicesByService[key], s)
		}
	}
	out := map[string]contract.ServiceTarget{}
	for _, svc := range in.Services {
		for _, ip := range clusterIPs(svc) {
			family := addressType(ip)
			for _, port := range svc.Spec.Ports {
				if cmp.Or(port.Protocol, corev1.ProtocolTCP) != corev1.ProtocolTCP {
					continue // the proxy only carries TCP
				}
				key := net.JoinHostPort(ip, strconv.Itoa(int(port.Port)))
				eps := readyEndpoints(slicesByService[svc.Namespace+"/"+svc.Name], family, port.Name, pods)
				out[key] = contract.ServiceTarget{
					Namespace: svc.Namespace,
					Name:      svc.Name,
					Endpoints: eps,
					Opaque:    serviceOpaque(svc, port.Port, eps, pods, nsAnnotations[svc.Namespace]),
				}
			}
		}
	}
	return out
}

// serviceOpaque decides whether a Service port is opaque: by the Service's
// own annotation (on its port) when it has a valid one, else by the list of
// the pods behind it on the port they serve (a meshed endpoint's resolved
// list; for unmeshed ones, the namespace's or the default list).
func serviceOpaque(svc *corev1.Service, port int32, eps []contract.Endpoint, pods map[string]contract.MeshedPod,
	nsAnnotations map[string]string) bool {
	if v, ok := svc.Annotations[contract.OpaquePortsAnnotation]; ok {
		if r, err := contract.ParsePortRanges(v); err == nil {
			return r.Contains(uint16(port))
		}
	}
	for _, ep := range eps {
		if pod, ok := pods[ep.IP]; ok {
			return contract.PodOpaquePorts(pod).Contains(uint16(ep.Port))
		}
	}
	target := port
	if len(eps) > 0 {
		target = eps[0].Port
	}
	return contract.ResolveOpaquePorts(nsAnnotations).Contains(uint16(target))
}

// clusterIPs lists a Service's virtual IPs; headless and ExternalName have none.
func clusterIPs(svc *corev1.Service) []string {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []string
	for _, ip := range ips {
		if ip != corev1.ClusterIPNone && net.ParseIP(ip) != nil {
			out = append(out, ip)
		}
	}
	return out
}

func addressType(ip string) discoveryv1.AddressType {
	if net.ParseIP(ip).To4() != nil {
		return discoveryv1.AddressTypeIPv4
	}
	return discoveryv1.AddressTypeIPv6
}

// readyEndpoints collects ready addresses of the slice port that matches the
// Service port by name; the slice already carries the resolved targetPort.
func readyEndpoints(serviceSlices []*discoveryv1.EndpointSlice, family discoveryv1.AddressType, portName string,
	pods map[string]contract.MeshedPod) []contract.Endpoint {
	seen := map[string]bool{}
	out := []contract.Endpoint{}
	for _, s := range serviceSlices {
		if s.AddressType != family {
			continue
		}
		port, ok := slicePort(s, portName)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, ip := range ep.Addresses {
				key := net.JoinHostPort(ip, strconv.Itoa(int(port)))
				if seen[key] {
					continue // slices overlap briefly while the controller rebalances
				}
				seen[key] = true
				out = append(out, contract.Endpoint{IP: ip, Port: port, Identity: pods[ip].Identity})
			}
		}
	}
	slices.SortFunc(out, func(a, b contract.Endpoint) int {
		return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.Port, b.Port))
	})
	return out
}

func slicePort(s *discoveryv1.EndpointSlice, name string) (int32, bool) {
	for _, p := range s.Ports {
		if p.Port == nil || cmp.Or(ptrValue(p.Protocol), corev1.ProtocolTCP) != corev1.ProtocolTCP {
			continue
		}
		if ptrValue(p.Name) == name {
			return *p.Port, true
		}
	}
	return 0, false
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
