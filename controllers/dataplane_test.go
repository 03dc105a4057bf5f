package controllers

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestDataPlaneStatusCountsMeshedPods(t *testing.T) {
	ctx := context.Background()
	installReady(t, "dataplane", "mk-dataplane")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "meshed-app"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name, version string
		ready         bool
	}{{"current-ready", "0.1.0", true}, {"current-starting", "0.1.0", false}, {"old", "0.0.9", true}, {"plain", "", true}} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "meshed-app", Name: p.name, Labels: map[string]string{}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
		if p.version != "" {
			pod.Labels[contract.ProxyVersionLabel] = p.version
			pod.Spec = injected(pod.Spec)
		}
		if err := k8s.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: contract.ProxyContainerName, Ready: p.ready}}}
		if err := k8s.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "data-plane counts", func() error {
		dp := getInstallation(t, "dataplane").Status.DataPlane
		if dp.MeshedPods != 3 || dp.OutdatedProxies != 1 || dp.NotReadyProxies != 1 || len(dp.ProxyVersions) != 2 {
			return fmt.Errorf("data plane %+v", dp)
		}
		return nil
	})
}
