package dataplane

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestRunsProxyNeedsTheLabelAndTheProxyContainer(t *testing.T) {
	label := map[string]string{contract.ProxyVersionLabel: "0.1.0"}
	proxy := []corev1.Container{{Name: contract.ProxyContainerName}}
	app := []corev1.Container{{Name: "app"}}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"native sidecar", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: label}, Spec: corev1.PodSpec{InitContainers: proxy, Containers: app}}, true},
		{"plain sidecar", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: label}, Spec: corev1.PodSpec{Containers: append(app, proxy...)}}, true},
		{"label copied, no proxy", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: label}, Spec: corev1.PodSpec{Containers: app}}, false},
		{"container without the label", corev1.Pod{Spec: corev1.PodSpec{InitContainers: proxy, Containers: app}}, false},
		{"unmeshed", corev1.Pod{Spec: corev1.PodSpec{Containers: app}}, false},
	} {
		if got := RunsProxy(&tc.pod); got != tc.want {
			t.Errorf("%s: RunsProxy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestExcludedOnlyByTheExactValue(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "false": false, "": false, "yes": false} {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{contract.RotationExcludeAnnotation: v}}}
		if got := Excluded(&p); got != want {
			t.Errorf("%q: Excluded = %v, want %v", v, got, want)
		}
	}
}

func TestSummarizeCountsOnlyPodsRunningTheProxy(t *testing.T) {
	copied := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "copied", Labels: map[string]string{contract.ProxyVersionLabel: "0.1.0"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	real := *copied.DeepCopy()
	real.Name = "real"
	real.Spec.InitContainers = []corev1.Container{{Name: contract.ProxyContainerName}}
	if s := Summarize(ptrs(copied, real), "0.1.0"); s.MeshedPods != 1 {
		t.Fatalf("a pod that only carries the label counted as meshed: %+v", s)
	}
}
