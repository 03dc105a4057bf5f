package discovery

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

const td = "cluster.local"

type podOpt func(*corev1.Pod)

func pod(ns, name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{contract.InjectedAnnotation: "true"}},
		Spec:       corev1.PodSpec{ServiceAccountName: name + "-sa"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func unmeshed(p *corev1.Pod) { p.Annotations = nil }
func pending(p *corev1.Pod)  { p.Status.Phase = corev1.PodPending }
func hostNet(p *corev1.Pod)  { p.Spec.HostNetwork = true }
func annotate(k, v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations[k] = v }
}
func sidecarOnly(p *corev1.Pod) {
	p.Annotations = nil
	p.Spec.InitContainers = []corev1.Container{{Name: contract.ProxyContainerName}}
}

func namespace(name string, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
}

func service(ns, name string, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, Ports: ports},
	}
}

type sliceEndpoint struct {
	ip    string
	ready *bool
}

func slice(ns, svc, name string, ports []discoveryv1.EndpointPort, eps ...sliceEndpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}})
	}
	return s
}

func TestBuildSnapshotPods(t *testing.T) {
	strictNS := namespace("secure", map[string]string{contract.MTLSModeKey: contract.MTLSStrict})
	for _, tc := range []struct {
		name string
		in   Inputs
		want map[string]contract.MeshedPod
	}{
		{
			name: "meshed running pod gets SA identity and default mode",
			in:   Inputs{Pods: []*corev1.Pod{pod("shop", "web", "10.0.0.1")}},
			want: map[string]contract.MeshedPod{"10.0.0.1": {Identity: "spiffe://cluster.local/ns/shop/sa/web-sa", Namespace: "shop", MTLSMode: contract.MTLSPermissive}},
		},
		{
			name: "unmeshed, pending and hostNetwork pods are left out",
			in: Inputs{Pods: []*corev1.Pod{
				pod("shop", "a", "10.0.0.1", unmeshed), pod("shop", "b", "10.0.0.2", pending), pod("shop", "c", "10.0.0.3", hostNet),
			}},
			want: map[string]contract.MeshedPod{},
		},
		{
			name: "proxy container alone marks a pod meshed; empty SA is default",
			in:   Inputs{Pods: []*corev1.Pod{pod("shop", "d", "10.0.0.4", sidecarOnly, func(p *corev1.Pod) { p.Spec.ServiceAccountName = "" })}},
			want: map[string]contract.MeshedPod{"10.0.0.4": {Identity: "spiffe://cluster.local/ns/shop/sa/default", Namespace: "shop", MTLSMode: contract.MTLSPermissive}},
		},
		{
			name: "namespace annotation sets mode, pod annotation overrides it",
			in: Inputs{Namespaces: []*corev1.Namespace{strictNS}, Pods: []*corev1.Pod{
				pod("secure", "e", "10.0.0.5"),
				pod("secure", "f", "10.0.0.6", annotate(contract.MTLSModeKey, contract.MTLSPermissive)),
			}},
			want: map[string]contract.MeshedPod{
				"10.0.0.5": {Identity: "spiffe://cluster.local/ns/secure/sa/e-sa", Namespace: "secure", MTLSMode: contract.MTLSStrict},
				"10.0.0.6": {Identity: "spiffe://cluster.local/ns/secure/sa/f-sa", Namespace: "secure", MTLSMode: contract.MTLSPermissive},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.TrustDomain, tc.in.DefaultMTLSMode = td, contract.MTLSPermissive
			got := BuildSnapshot(tc.in)
			if !reflect.DeepEqual(got.Pods, tc.want) {
				t.Fatalf("pods = %#v\nwant %#v", got.Pods, tc.want)
			}
		})
	}
}

func TestBuildSnapshotServices(t *testing.T) {
	httpPort := corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}
	udpPort := corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	unnamedPort := corev1.ServicePort{Port: 9000}
	sliceHTTP := []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}}
	sliceUnnamed := []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](9090)}}
	meshedBackend := pod("shop", "web", "10.0.0.1")

	for _, tc := range []struct {
		name string
		in   Inputs
		want map[string]contract.ServiceTarget
	}{
		{
			name: "ready endpoints with resolved target port; meshed ones carry identity",
			in: Inputs{
				Pods:     []*corev1.Pod{meshedBackend},
				Services: []*corev1.Service{service("shop", "web", "10.96.0.10", httpPort)},
				EndpointSlices: []*discoveryv1.EndpointSlice{slice("shop", "web", "web-1", sliceHTTP,
					sliceEndpoint{"10.0.0.2", nil}, sliceEndpoint{"10.0.0.1", ptr.To(true)}, sliceEndpoint{"10.0.0.3", ptr.To(false)})},
			},
			want: map[string]contract.ServiceTarget{"10.96.0.10:80": {Namespace: "shop", Name: "web", Endpoints: []contract.Endpoint{
				{IP: "10.0.0.1", Port: 8080, Identity: "spiffe://cluster.local/ns/shop/sa/web-sa"},
				{IP: "10.0.0.2", Port: 8080},
			}}},
		},
		{
			name: "duplicate endpoints across slices collapse; slices of other services ignored",
			in: Inputs{
				Services: []*corev1.Service{service("shop", "web", "10.96.0.10", httpPort)},
				EndpointSlices: []*discoveryv1.EndpointSlice{
					slice("shop", "web", "web-1", sliceHTTP, sliceEndpoint{"10.0.0.2", nil}),
					slice("shop", "web", "web-2", sliceHTTP, sliceEndpoint{"10.0.0.2", nil}),
					slice("shop", "other", "other-1", sliceHTTP, sliceEndpoint{"10.0.0.9", nil}),
					slice("elsewhere", "web", "web-1", sliceHTTP, sliceEndpoint{"10.0.0.8", nil}),
				},
			},
			want: map[string]contract.ServiceTarget{"10.96.0.10:80": {Namespace: "shop", Name: "web", Endpoints: []contract.Endpoint{{IP: "10.0.0.2", Port: 8080}}}},
		},
		{
			name: "unnamed port matches unnamed slice port; UDP ports skipped; no endpoints is an empty list",
			in: Inputs{
				Services: []*corev1.Service{
					service("shop", "single", "10.96.0.11", unnamedPort),
					service("kube-system", "dns", "10.96.0.53", udpPort),
					service("shop", "empty", "10.96.0.12", httpPort),
				},
				EndpointSlices: []*discoveryv1.EndpointSlice{slice("shop", "single", "s-1", sliceUnnamed, sliceEndpoint{"10.0.0.4", nil})},
			},
			want: map[string]contract.ServiceTarget{
				"10.96.0.11:9000": {Namespace: "shop", Name: "single", Endpoints: []contract.Endpoint{{IP: "10.0.0.4", Port: 9090}}},
				"10.96.0.12:80":   {Namespace: "shop", Name: "empty", Endpoints: []contract.Endpoint{}},
			},
		},
		{
			name: "headless services have no virtual IP",
			in: Inputs{
				Services: []*corev1.Service{service("shop", "db", corev1.ClusterIPNone, httpPort)},
			},
			want: map[string]contract.ServiceTarget{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.TrustDomain, tc.in.DefaultMTLSMode = td, contract.MTLSPermissive
			got := BuildSnapshot(tc.in)
			if !reflect.DeepEqual(got.Services, tc.want) {
				t.Fatalf("services = %#v\nwant %#v", got.Services, tc.want)
			}
		})
	}
}

func TestBuildSnapshotIPv6Key(t *testing.T) {
	svc := service("shop", "v6", "fd00::10", corev1.ServicePort{Name: "http", Port: 80})
	got := BuildSnapshot(Inputs{Services: []*corev1.Service{svc}})
	if _, ok := got.Services["[fd00::10]:80"]; !ok {
		t.Fatalf("IPv6 service key missing: %v", got.Services)
	}
}
