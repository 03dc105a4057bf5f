package dataplane

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func eventPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1",
			Labels:          map[string]string{"app": "web", contract.ProxyVersionLabel: "0.1.0"},
			Annotations:     map[string]string{contract.InjectedAnnotation: "true", "other": "x"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-7d9f8", UID: "u1", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.ProxyContainerName}}, Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			Conditions:            []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: contract.ProxyContainerName, Ready: true, Image: "proxy:0.1.0"}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 0}}},
	}
}

func TestPodChangeMatters(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   bool
	}{
		{"nothing", func(*corev1.Pod) {}, false},
		{"app container restarted", func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 3 }, false},
		{"condition message", func(p *corev1.Pod) { p.Status.Conditions[0].Message = "x" }, false},
		{"unread annotation", func(p *corev1.Pod) { p.Annotations["other"] = "y" }, false},
		{"resourceVersion only", func(p *corev1.Pod) { p.ResourceVersion = "9" }, false},
		{"proxy not ready", func(p *corev1.Pod) { p.Status.InitContainerStatuses[0].Ready = false }, true},
		{"proxy image", func(p *corev1.Pod) { p.Status.InitContainerStatuses[0].Image = "proxy:0.2.0" }, true},
		{"proxy version label", func(p *corev1.Pod) { p.Labels[contract.ProxyVersionLabel] = "0.2.0" }, true},
		{"app label", func(p *corev1.Pod) { p.Labels["tier"] = "front" }, true},
		{"phase", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, true},
		{"IP", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.2" }, true},
		{"deleting", func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }, true},
		{"excluded from rotations", func(p *corev1.Pod) { p.Annotations[contract.RotationExcludeAnnotation] = "true" }, true},
		{"inject annotation", func(p *corev1.Pod) { p.Annotations[contract.InjectKey] = contract.InjectDisabled }, true},
		{"new owner", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "u2" }, true},
		{"orphaned", func(p *corev1.Pod) { p.OwnerReferences = nil }, true},
		{"CNI-mode redirect check failed", func(p *corev1.Pod) {
			p.Annotations[contract.CNIRedirectAnnotation] = "--proxy-uid 2102"
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: contract.RedirectCheckContainerName,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}})
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, after := eventPod(), eventPod()
			c.change(after)
			if got := PodChangeMatters(before, after); got != c.want {
				t.Errorf("PodChangeMatters = %v, want %v", got, c.want)
			}
		})
	}
}
