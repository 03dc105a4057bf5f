package discovery

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestBuildSnapshotOpaquePorts(t *testing.T) {
	port := func(p int32) corev1.ServicePort { return corev1.ServicePort{Name: "p", Port: p} }
	slicePorts := func(p int32) []discoveryv1.EndpointPort {
		return []discoveryv1.EndpointPort{{Name: ptr.To("p"), Port: ptr.To(p)}}
	}
	annotated := service("shop", "smtp", "10.96.0.20", port(2525))
	annotated.Annotations = map[string]string{contract.OpaquePortsAnnotation: "2500-2600"}
	badAnnotation := service("shop", "pg-bad", "10.96.0.24", port(5432))
	badAnnotation.Annotations = map[string]string{contract.OpaquePortsAnnotation: "oops"}
	in := Inputs{
		TrustDomain: td, DefaultMTLSMode: contract.MTLSPermissive,
		Namespaces: []*corev1.Namespace{namespace("shop", nil), namespace("data", map[string]string{contract.OpaquePortsAnnotation: "7000"})},
		Pods: []*corev1.Pod{
			pod("shop", "plain", "10.0.0.1"),
			pod("shop", "banner", "10.0.0.2", annotate(contract.OpaquePortsAnnotation, "9000-9001")),
			pod("data", "cache", "10.0.0.3"),
		},
		Services: []*corev1.Service{
			annotated,
			badAnnotation,
			service("shop", "pg", "10.96.0.21", port(5432)),
			service("shop", "web", "10.96.0.22", port(80)),
			service("shop", "banner", "10.96.0.23", port(80)),
			service("data", "cache", "10.96.0.25", port(80)),
		},
		EndpointSlices: []*discoveryv1.EndpointSlice{
			slice("shop", "banner", "b-1", slicePorts(9001), sliceEndpoint{"10.0.0.2", nil}),
			slice("shop", "web", "w-1", slicePorts(8080), sliceEndpoint{"10.0.0.1", nil}),
			slice("data", "cache", "c-1", slicePorts(7000), sliceEndpoint{"10.0.0.3", nil}),
		},
	}
	snap := BuildSnapshot(in)
	for key, want := range map[string]bool{
		"10.96.0.20:2525": true,  // the Service's own annotation
		"10.96.0.24:5432": true,  // an invalid annotation is ignored: the default list has 5432
		"10.96.0.21:5432": true,  // the default list
		"10.96.0.22:80":   false, // a meshed pod's 8080 is in no list
		"10.96.0.23:80":   true,  // the pod's annotation, on the port it serves
		"10.96.0.25:80":   true,  // the namespace's annotation, on the port the pod serves
	} {
		if got := snap.Services[key].Opaque; got != want {
			t.Errorf("%s opaque = %v, want %v", key, got, want)
		}
	}
	for ip, want := range map[string]string{"10.0.0.1": contract.DefaultOpaquePorts, "10.0.0.2": "9000-9001", "10.0.0.3": "7000"} {
		if got := contract.PodOpaquePorts(snap.Pods[ip]).String(); got != want {
			t.Errorf("pod %s opaque ports %q, want %q", ip, got, want)
		}
	}
	if snap.Pods["10.0.0.1"].OpaquePorts != nil {
		t.Error("the default list is sent with every pod")
	}
}
