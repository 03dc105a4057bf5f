package inject

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestRewriteProbes(t *testing.T) {
	containers := []corev1.Container{{
		Name:  "web",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz", Port: intstr.FromString("http")}}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/live", Port: intstr.FromInt32(9090), Scheme: corev1.URISchemeHTTPS}}},
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}},
	}}
	got := rewriteProbes(containers)
	want := map[string]contract.AppProbe{
		"/app-health/web/readiness": {Port: 8080, Path: "/healthz"},
		"/app-health/web/liveness":  {Port: 9090, Path: "/live", Scheme: "HTTPS"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("probes = %+v", got)
	}
	r := containers[0].ReadinessProbe.HTTPGet
	if r.Port.IntValue() != contract.ProxyAdminPort || r.Path != "/app-health/web/readiness" || r.Scheme != corev1.URISchemeHTTP {
		t.Fatalf("readiness not rewritten: %+v", r)
	}
	if containers[0].StartupProbe.TCPSocket.Port.IntValue() != 8080 {
		t.Fatal("TCP probes stay: the proxy accepts the connection in any mode")
	}
	env, ok := appProbesEnv(got)
	var back map[string]contract.AppProbe
	if !ok || json.Unmarshal([]byte(env.Value), &back) != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("env %+v", env)
	}
}

func TestStrictPodsGetRewrittenProbesPermissiveDoNot(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app",
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/h", Port: intstr.FromInt32(8080)}}}}}}}
	for _, mode := range []string{contract.MTLSPermissive, contract.MTLSStrict} {
		ns := &corev1.Namespace{}
		ns.Annotations = map[string]string{contract.MTLSModeKey: mode}
		out, _ := Mutate(pod, ns, Config{DefaultMTLSMode: contract.MTLSPermissive})
		rewritten := out.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.IntValue() == contract.ProxyAdminPort
		if rewritten != (mode == contract.MTLSStrict) {
			t.Errorf("mode %s: probe rewritten=%v", mode, rewritten)
		}
		if pod.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.IntValue() != 8080 {
			t.Fatal("Mutate changed its input")
		}
	}
}
