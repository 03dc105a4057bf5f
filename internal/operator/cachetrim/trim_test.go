package cachetrim

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

func fullPod(proxyReady bool, hostNetwork bool) *corev1.Pod {
	heavy := corev1.Container{
		Env:            []corev1.EnvVar{{Name: "A", Value: "some value"}, {Name: "B", Value: "another value"}},
		VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		Command:        []string{"/bin/app", "--serve", "--port=8080"},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready"}}},
	}
	app, proxy := heavy, heavy
	app.Name, app.Image = "app", "app:1"
	proxy.Name, proxy.Image, proxy.RestartPolicy = contract.ProxyContainerName, "proxy:0.1.0", ptr.To(corev1.ContainerRestartPolicyAlways)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-7d9f8-1",
			Labels:          map[string]string{"app": "web", contract.ProxyVersionLabel: "0.1.0"},
			Annotations:     map[string]string{contract.InjectedAnnotation: "true", contract.RotationExcludeAnnotation: "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f8", Controller: ptr.To(true)}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}},
		Spec: corev1.PodSpec{HostNetwork: hostNetwork, InitContainers: []corev1.Container{proxy}, Containers: []corev1.Container{app},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, Message: "all containers ready"}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: contract.ProxyContainerName, Ready: proxyReady, Image: "proxy:0.1.0",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "app:1"}}},
	}
}

// Every decision the operator takes over a pod is the same on the trimmed
// pod as on the full one, and the trimmed pod is smaller.
func TestTrimmedPodKeepsEveryDecision(t *testing.T) {
	rsOwner := func(string, string) *metav1.OwnerReference {
		return &metav1.OwnerReference{Kind: "Deployment", Name: "web", Controller: ptr.To(true)}
	}
	for _, c := range []struct {
		name                   string
		ready, host, cniFailed bool
	}{{"ready", true, false, false}, {"proxy not ready", false, false, false}, {"host network", true, true, false},
		{"CNI-mode redirect check failed", false, false, true}} {
		t.Run(c.name, func(t *testing.T) {
			full := fullPod(c.ready, c.host)
			if c.cniFailed {
				full.Annotations[contract.CNIRedirectAnnotation] = "--proxy-uid 2102"
				full.Status.Phase = corev1.PodPending
				full.Status.InitContainerStatuses = append([]corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
						Message: "no redirect rules in this pod's network namespace"}}}}, full.Status.InitContainerStatuses...)
			}
			trimmed := full.DeepCopy()
			if _, err := Transform(trimmed); err != nil {
				t.Fatal(err)
			}
			nsLabels := map[string]string{contract.InjectKey: contract.InjectEnabled}
			decide := func(p *corev1.Pod) []any {
				return []any{dataplane.RunsProxy(p), dataplane.HasProxy(p), dataplane.ProxyReady(p), dataplane.Excluded(p), dataplane.RedirectMissing(p),
					dataplane.ShouldBeMeshed(p, nsLabels, labels.Everything(), "mesh-system"), dataplane.Unmeshed(p, nsLabels, nil, "mesh-system"),
					workload.OwnerKey(p, rsOwner), p.Status.PodIP, p.Status.Phase,
					dataplane.Summarize([]*corev1.Pod{p}, "0.1.0"),
					len(upgrade.MeshedWorkloads([]corev1.Pod{*p}, nil, nil))}
			}
			want, got := decide(full), decide(trimmed)
			for i := range want {
				if !equalJSON(t, want[i], got[i]) {
					t.Errorf("decision %d: full pod %v, trimmed pod %v", i, want[i], got[i])
				}
			}
			if trimmed.ManagedFields != nil || trimmed.Spec.Volumes != nil || trimmed.Spec.Containers[0].Env != nil {
				t.Errorf("not trimmed: %+v", trimmed)
			}
			if size(t, trimmed) >= size(t, full)*2/3 {
				t.Errorf("trimmed pod is %d bytes of JSON, full %d: want at most two thirds", size(t, trimmed), size(t, full))
			}
		})
	}
}

func TestTrimmedReplicaSetKeepsOwnerAndReplicas(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-7d9f8",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: fullPod(true, false).Spec}}}
	if _, err := Transform(rs); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.Name != "web" || *rs.Spec.Replicas != 3 || rs.Spec.Selector == nil {
		t.Errorf("lost what the operator reads: %+v", rs)
	}
	if rs.Spec.Template.Spec.Containers != nil {
		t.Errorf("template kept: %+v", rs.Spec.Template)
	}
}

// Other kinds lose only their managed fields.
func TestOtherKindsLoseOnlyManagedFields(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	if _, err := Transform(ns); err != nil {
		t.Fatal(err)
	}
	if ns.ManagedFields != nil || ns.Labels["a"] != "b" {
		t.Errorf("got %+v", ns)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

func size(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}
