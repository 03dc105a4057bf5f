package upgrade

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	wl "github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

func ownedBy(kind, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: ptr.To(true)}}
}

func meshedPod(ns, name, version string, ready bool, owners []metav1.OwnerReference, labels map[string]string) corev1.Pod {
	l := map[string]string{contract.ProxyVersionLabel: version}
	for k, v := range labels {
		l[k] = v
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, OwnerReferences: owners},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func unlabelled(p corev1.Pod) corev1.Pod {
	delete(p.Labels, contract.ProxyVersionLabel)
	return p
}

func TestMeshedWorkloads(t *testing.T) {
	rs := func(ns, name, deploy string, replicas int32) appsv1.ReplicaSet {
		return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: ownedBy("Deployment", deploy)},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)}}
	}
	replicaSets := []appsv1.ReplicaSet{
		rs("shop", "web-aaa", "web", 2),
		rs("shop", "web-bbb", "web", 1),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "bare-rs"}},
	}
	terminating := meshedPod("shop", "web-aaa-3", "0.1.0", true, ownedBy("ReplicaSet", "web-aaa"), nil)
	terminating.DeletionTimestamp = &metav1.Time{}
	finished := meshedPod("shop", "job-1", "0.1.0", false, ownedBy("Job", "job"), nil)
	finished.Status.Phase = corev1.PodSucceeded
	stamped := meshedPod("shop", "web-bbb-1", "0.2.0", false, ownedBy("ReplicaSet", "web-bbb"), nil)
	stamped.Annotations = map[string]string{contract.RestartedAtAnnotation: "2026-11-25T12:00:00Z"}
	unmeshed := unlabelled(meshedPod("shop", "plain-1", "", true, ownedBy("ReplicaSet", "web-aaa"), nil))
	pods := []corev1.Pod{
		meshedPod("shop", "web-aaa-2", "0.1.0", true, ownedBy("ReplicaSet", "web-aaa"), nil),
		meshedPod("shop", "web-aaa-1", "0.1.0", true, ownedBy("ReplicaSet", "web-aaa"), nil),
		stamped, terminating, finished, unmeshed,
		meshedPod("shop", "db-0", "0.1.0", true, ownedBy("StatefulSet", "db"), nil),
		meshedPod("kube-system", "agent-x", "0.2.0", true, ownedBy("DaemonSet", "agent"), nil),
		meshedPod("shop", "bare", "0.1.0", true, nil, nil),
		meshedPod("shop", "bare-rs-1", "0.1.0", true, ownedBy("ReplicaSet", "bare-rs"), nil),
		// The ReplicaSet is not in the list yet: mapped through pod-template-hash.
		meshedPod("shop", "api-ccc-1", "0.1.0", true, ownedBy("ReplicaSet", "api-ccc"), map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "ccc"}),
		// Only unmeshed pods: a workload only when the upgrade planned it.
		unlabelled(meshedPod("shop", "solo-0", "", true, ownedBy("StatefulSet", "solo"), nil)),
		unlabelled(meshedPod("shop", "plain-0", "", true, ownedBy("StatefulSet", "plain"), nil)),
	}
	got := MeshedWorkloads(pods, replicaSets, []string{"StatefulSet/shop/solo"})
	var gotKeys []string
	for _, w := range got {
		gotKeys = append(gotKeys, w.Key())
	}
	want := []string{"DaemonSet/kube-system/agent", "Deployment/shop/api", "Deployment/shop/web", "StatefulSet/shop/db", "StatefulSet/shop/solo"}
	if !reflect.DeepEqual(gotKeys, want) {
		t.Fatalf("workloads %v, want %v (bare pods, bare ReplicaSets, Jobs and unplanned unmeshed workloads are not workloads)", gotKeys, want)
	}
	web := got[2]
	if web.Desired != 3 || len(web.Pods) != 5 || web.Pods[0].Name != "plain-1" || web.Pods[0].ProxyVersion != "" || web.Live() != 4 {
		t.Fatalf("web: desired %d, pods %+v (its unmeshed pod included)", web.Desired, web.Pods)
	}
	if v := web.Versions(); !reflect.DeepEqual(v, []VersionCount{{"0.1.0", 2}, {"0.2.0", 1}}) {
		t.Fatalf("web versions %v (terminating and unmeshed pods not counted)", v)
	}
	if !web.Runs("0.2.0") || web.Runs("0.3.0") || !web.Stamped("2026-11-25T12:00:00Z") {
		t.Fatal("Runs/Stamped")
	}
	if got[1].Desired != 0 {
		t.Fatal("a Deployment whose ReplicaSets are unknown has an unknown desired count")
	}
}

func TestSettled(t *testing.T) {
	on := func(v string) func(Pod) bool { return func(p Pod) bool { return p.ProxyVersion == v } }
	cases := []struct {
		name string
		w    Workload
		ok   bool
	}{
		{"all new and ready", Workload{Pods: []Pod{{ProxyVersion: "2", Ready: true}, {ProxyVersion: "2", Ready: true}}}, true},
		{"one old", Workload{Pods: []Pod{{ProxyVersion: "2", Ready: true}, {ProxyVersion: "1", Ready: true}}}, false},
		{"new but not ready", Workload{Pods: []Pod{{ProxyVersion: "2"}}}, false},
		{"old pod terminating", Workload{Pods: []Pod{{ProxyVersion: "2", Ready: true}, {ProxyVersion: "1", Terminating: true}}}, false},
		{"fewer pods than desired", Workload{Desired: 2, Pods: []Pod{{ProxyVersion: "2", Ready: true}}}, false},
		{"desired reached", Workload{Desired: 1, Pods: []Pod{{ProxyVersion: "2", Ready: true}}}, true},
	}
	for _, tc := range cases {
		if ok, why := tc.w.Settled(on("2"), "on proxy 2"); ok != tc.ok || (!ok && why == "") {
			t.Errorf("%s: Settled = %v %q", tc.name, ok, why)
		}
	}
}

func TestParseKeyAndNamespaces(t *testing.T) {
	if _, _, _, err := wl.ParseKey("Deployment/ns"); err == nil {
		t.Fatal("short key accepted")
	}
	k, ns, n, err := wl.ParseKey("StatefulSet/db/pg")
	if err != nil || k != "StatefulSet" || ns != "db" || n != "pg" {
		t.Fatal("ParseKey")
	}
	if got := Namespaces([]string{"Deployment/b/x", "Deployment/a/y", "DaemonSet/b/z"}); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("Namespaces = %v", got)
	}
}

// A planned Deployment with no pod at this instant but ReplicaSets that want
// one is still a workload (waiting for its pods); one scaled to zero is gone.
func TestPlannedDeploymentBetweenPodsIsNotGone(t *testing.T) {
	rs := func(name string, replicas int32) appsv1.ReplicaSet {
		return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name + "-rs",
			OwnerReferences: []metav1.OwnerReference{{Kind: KindDeployment, Name: name, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)}}
	}
	got := MeshedWorkloads(nil, []appsv1.ReplicaSet{rs("web", 1), rs("idle", 0)},
		[]string{"Deployment/shop/web", "Deployment/shop/idle"})
	if len(got) != 1 || got[0].Key() != "Deployment/shop/web" || got[0].Desired != 1 || len(got[0].Pods) != 0 {
		t.Fatalf("got %+v, want only Deployment/shop/web, desired 1, no pods", got)
	}
	if ok, why := got[0].Settled(func(Pod) bool { return true }, "anything"); ok {
		t.Errorf("a Deployment waiting for its pods counts as settled (%s)", why)
	}
}
