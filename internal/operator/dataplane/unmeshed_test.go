package dataplane

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/inject"
)

func TestUnmeshed(t *testing.T) {
	enabled := map[string]string{contract.InjectKey: contract.InjectEnabled}
	shop := map[string]string{"team": "shop"}
	teamShop := labels.SelectorFromSet(labels.Set{"team": "shop"})
	now := metav1.Now()
	pod := func(ns string, mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Labels: map[string]string{}, Annotations: map[string]string{}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	cases := []struct {
		name     string
		pod      *corev1.Pod
		nsLabels map[string]string
		want     bool
		selector labels.Selector
	}{
		{"namespace chosen by the selector", pod("shop", nil), shop, true, teamShop},
		{"namespace outside the selector", pod("ops", nil), map[string]string{"team": "ops"}, false, teamShop},
		{"namespace opted out despite the selector", pod("shop", nil),
			map[string]string{"team": "shop", contract.InjectKey: contract.InjectDisabled}, false, teamShop},
		{"meshed namespace, no proxy", pod("shop", nil), enabled, true, nil},
		{"pending pod counts", pod("shop", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), enabled, true, nil},
		{"pod annotated enabled in a plain namespace", pod("shop", func(p *corev1.Pod) { p.Annotations[contract.InjectKey] = contract.InjectEnabled }), nil, true, nil},
		{"plain namespace", pod("shop", nil), nil, false, nil},
		{"opted out", pod("shop", func(p *corev1.Pod) { p.Annotations[contract.InjectKey] = contract.InjectDisabled }), enabled, false, nil},
		{"has the proxy label", pod("shop", func(p *corev1.Pod) { p.Labels[contract.ProxyVersionLabel] = "0.1.0" }), enabled, false, nil},
		{"has the proxy container", pod("shop", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: contract.ProxyContainerName}}
		}), enabled, false, nil},
		{"host network", pod("shop", func(p *corev1.Pod) { p.Spec.HostNetwork = true }), enabled, false, nil},
		{"control-plane namespace", pod("mesh-system", nil), enabled, false, nil},
		{"kube-system", pod("kube-system", func(p *corev1.Pod) { p.Annotations[contract.InjectKey] = contract.InjectEnabled }), enabled, false, nil},
		{"kube-node-lease", pod("kube-node-lease", nil), enabled, false, nil},
		{"succeeded", pod("shop", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), enabled, false, nil},
		{"failed", pod("shop", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), enabled, false, nil},
		{"terminating", pod("shop", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), enabled, false, nil},
		{"CNI mode, redirect check failed (crash loop)", pod("shop", func(p *corev1.Pod) {
			cniMeshed(p)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}), enabled, true, nil},
		{"CNI mode, redirect check just failed", pod("shop", func(p *corev1.Pod) {
			cniMeshed(p)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}), enabled, true, nil},
		{"CNI mode, redirect check passed", pod("shop", func(p *corev1.Pod) {
			cniMeshed(p)
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}
		}), enabled, false, nil},
		{"CNI mode, redirect check failed once, then passed", pod("shop", func(p *corev1.Pod) {
			cniMeshed(p)
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName, Ready: true,
				State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}), enabled, false, nil},
		{"CNI mode, redirect check still running", pod("shop", func(p *corev1.Pod) {
			cniMeshed(p)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}), enabled, false, nil},
		{"CNI mode, redirect check failed, pod opted out since", pod("shop", func(p *corev1.Pod) {
			cniMeshed(p)
			p.Annotations[contract.InjectKey] = contract.InjectDisabled
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}), enabled, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Unmeshed(c.pod, c.nsLabels, c.selector, "mesh-system"); got != c.want {
				t.Fatalf("Unmeshed = %v, want %v", got, c.want)
			}
			// The injector's own decision must agree for a live pod: the
			// operator restarts exactly what the injector would have meshed.
			// (kube-public and kube-node-lease are excluded by the webhook's
			// namespaceSelector, not by ShouldInject; the proxy-version label is
			// the injector's output, which it does not read back.)
			live := c.pod.DeletionTimestamp == nil && c.pod.Status.Phase != corev1.PodSucceeded && c.pod.Status.Phase != corev1.PodFailed
			_, labelled := c.pod.Labels[contract.ProxyVersionLabel]
			if !live || labelled || c.pod.Namespace == "kube-node-lease" {
				return
			}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.pod.Namespace, Labels: c.nsLabels}}
			should, why := inject.ShouldInject(c.pod, ns, "mesh-system", c.selector)
			if should != c.want {
				t.Fatalf("the injector decides %v (%s), the operator %v", should, why, c.want)
			}
		})
	}
}

func TestFindUnmeshedSorts(t *testing.T) {
	mk := func(ns, name string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	nsLabels := map[string]map[string]string{"b": {contract.InjectKey: contract.InjectEnabled}, "a": {contract.InjectKey: contract.InjectEnabled}}
	got := FindUnmeshed(ptrs(mk("b", "x"), mk("c", "y"), mk("a", "z"), mk("a", "b")), nsLabels, nil, "mesh-system")
	var names []string
	for _, p := range got {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if want := []string{"a/b", "a/z", "b/x"}; len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("got %v, want %v", names, want)
	}
}

func TestRestartHold(t *testing.T) {
	cases := []struct {
		report, injector, upgrade, rotation bool
		want                                string
	}{
		{false, true, false, false, ""},
		{true, true, false, false, "spec.dataPlane.unmeshedPods is Report"},
		{true, false, true, true, "spec.dataPlane.unmeshedPods is Report"},
		{false, false, true, true, "waiting for the injector to answer before restarting"},
		{false, true, true, true, "an upgrade is restarting workloads"},
		{false, true, false, true, "a trust rotation is restarting workloads"},
	}
	for _, c := range cases {
		if got := RestartHold(c.report, c.injector, c.upgrade, c.rotation); got != c.want {
			t.Errorf("%+v: %q", c, got)
		}
	}
}

func TestDecideRestarts(t *testing.T) {
	now := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	d := DecideRestarts(now, []Workload{
		{Key: "Deployment/a/fresh"},
		{Key: "Deployment/a/recent", LastRestart: now.Add(-2 * time.Minute)},
		{Key: "Deployment/a/old", LastRestart: now.Add(-RestartCooldown)},
		{Key: "StatefulSet/a/guarded", Blocked: "PodDisruptionBudget a/db allows no disruption"},
	})
	if len(d.Restart) != 2 || d.Restart[0] != "Deployment/a/fresh" || d.Restart[1] != "Deployment/a/old" {
		t.Fatalf("restart %v", d.Restart)
	}
	if len(d.Waiting) != 2 || d.RecheckAfter != 30*time.Second {
		t.Fatalf("waiting %v, recheck %s", d.Waiting, d.RecheckAfter)
	}
	if d := DecideRestarts(now, []Workload{{Key: "Deployment/a/recent", LastRestart: now.Add(-4 * time.Minute)}}); d.RecheckAfter != time.Minute || d.Restart != nil {
		t.Fatalf("cooldown: %+v", d)
	}
	if d := DecideRestarts(now, nil); d.RecheckAfter != 0 || d.Restart != nil || d.Waiting != nil {
		t.Fatalf("nothing to do: %+v", d)
	}
}

// cniMeshed marks p as the injector does in CNI mode.
func cniMeshed(p *corev1.Pod) {
	p.Labels[contract.ProxyVersionLabel] = "0.2.0"
	p.Annotations[contract.CNIRedirectAnnotation] = "--proxy-uid 2102"
	p.Spec.InitContainers = []corev1.Container{{Name: contract.RedirectCheckContainerName}, {Name: contract.ProxyContainerName}}
}
