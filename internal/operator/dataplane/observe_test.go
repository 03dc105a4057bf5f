package dataplane

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func pod(name, version string, ready bool, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}, Status: corev1.PodStatus{Phase: phase}}
	if version != "" {
		p.Labels[contract.ProxyVersionLabel] = version
		p.Spec.InitContainers = []corev1.Container{{Name: contract.ProxyContainerName}}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.ProxyContainerName, Ready: ready}}
	}
	return p
}

// ptrs points at copies of pods (the pass reads the cache's pods as pointers).
func ptrs(pods ...corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(pods))
	for i := range pods {
		out[i] = &pods[i]
	}
	return out
}

func TestSummarize(t *testing.T) {
	deleting := pod("gone", "0.1.0", true, corev1.PodRunning)
	deleting.DeletionTimestamp = &metav1.Time{}
	pods := []corev1.Pod{
		pod("a", "0.1.0", true, corev1.PodRunning),
		pod("b", "0.1.0", false, corev1.PodPending),
		pod("c", "0.0.9", true, corev1.PodRunning),
		pod("plain", "", false, corev1.PodRunning),
		pod("done", "0.1.0", false, corev1.PodSucceeded),
		deleting,
	}
	got := Summarize(ptrs(pods...), "0.1.0")
	want := Summary{MeshedPods: 3, OutdatedProxies: 1, NotReadyProxies: 1,
		Versions: []VersionCount{{"0.0.9", 1}, {"0.1.0", 2}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
}

// A pod injected in CNI mode whose redirect check keeps failing (the CNI
// plugin did not run for it) never starts its proxy: it counts as meshed
// with a proxy that is not ready, so upgrades and rotations see it.
func TestSummarizeCountsAFailedRedirectCheck(t *testing.T) {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{contract.ProxyVersionLabel: "0.1.0"}},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{
			{Name: contract.RedirectCheckContainerName}, {Name: contract.ProxyContainerName}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: contract.RedirectCheckContainerName, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
			{Name: contract.ProxyContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
		}},
	}
	got := Summarize(ptrs(p), "0.1.0")
	if got.MeshedPods != 1 || got.NotReadyProxies != 1 {
		t.Fatalf("Summarize = %+v, want one meshed pod with a proxy not ready", got)
	}
}
