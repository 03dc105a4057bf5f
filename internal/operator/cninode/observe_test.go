package cninode

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

const ns = "meshkeeper-system"

const dsUID = "ds-uid"

func plugin(name, node string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{contract.ComponentLabel: contract.CNIComponent},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: contract.CNIDaemonSetName, UID: dsUID, Controller: ptr.To(true)}}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func meshed(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{contract.ProxyVersionLabel: "0.2.0"},
			Annotations: map[string]string{contract.CNIRedirectAnnotation: "15001 15006"}},
		Spec:   corev1.PodSpec{NodeName: node, InitContainers: []corev1.Container{{Name: contract.ProxyContainerName}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func daemonSet(desired int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: contract.CNIDaemonSetName, UID: dsUID},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: desired, UpdatedNumberScheduled: desired}}
}

func TestObserve(t *testing.T) {
	terminating := plugin("cni-old", "n1", true)
	terminating.DeletionTimestamp = &metav1.Time{}
	otherDaemonSet := plugin("cni-x", "n2", true) // e.g. a DaemonSet deleted and created anew
	otherDaemonSet.OwnerReferences[0].UID = "old-uid"
	notControlled := plugin("cni-y", "n2", true)
	notControlled.OwnerReferences[0].Controller = nil
	otherNamespace := plugin("cni-z", "n2", true)
	otherNamespace.Namespace = "kube-system"
	finishedMeshed := meshed("done", "n3")
	finishedMeshed.Status.Phase = corev1.PodSucceeded
	copiedAnnotation := meshed("copy", "n3")
	copiedAnnotation.Spec.InitContainers = nil
	cases := []struct {
		name      string
		ds        *appsv1.DaemonSet
		pods      []*corev1.Pod
		ready     int32
		notReady  []string
		meshed    []string
		wantReady bool
	}{
		{"every node ready", daemonSet(2), []*corev1.Pod{plugin("a", "n1", true), plugin("b", "n2", true), meshed("web", "n1")}, 2, nil, nil, true},
		{"a DaemonSet whose status was never reported", &appsv1.DaemonSet{}, nil, 0, nil, nil, false},
		{"a pod with the annotation but no proxy needs no plugin", daemonSet(1), []*corev1.Pod{plugin("a", "n1", true), copiedAnnotation}, 1, nil, nil, true},
		{"no DaemonSet: no pod is its", nil, []*corev1.Pod{plugin("a", "n1", true)}, 0, nil, nil, false},
		{"a plugin pod not ready", daemonSet(2), []*corev1.Pod{plugin("a", "n1", true), plugin("b", "n2", false)}, 1, []string{"n2"}, nil, false},
		{"a node with meshed pods and no plugin pod", daemonSet(2), []*corev1.Pod{plugin("a", "n1", true), meshed("web", "n3")}, 1, []string{"n3"}, []string{"n3"}, false},
		{"a node with meshed pods and a plugin pod not ready", daemonSet(2),
			[]*corev1.Pod{plugin("a", "n1", true), plugin("b", "n2", false), meshed("web", "n2")}, 1, []string{"n2"}, []string{"n2"}, false},
		{"a node the DaemonSet wants, no pod there yet", daemonSet(3), []*corev1.Pod{plugin("a", "n1", true), plugin("b", "n2", true)}, 2, nil, nil, false},
		{"a replaced pod beside its ready successor", daemonSet(1), []*corev1.Pod{plugin("a", "n1", false), plugin("b", "n1", true)}, 1, nil, nil, true},
		{"a terminating plugin pod does not count", daemonSet(1), []*corev1.Pod{terminating, meshed("web", "n1")}, 0, []string{"n1"}, []string{"n1"}, false},
		{"only the DaemonSet's own pods count", daemonSet(1),
			[]*corev1.Pod{plugin("a", "n1", true), otherDaemonSet, notControlled, otherNamespace, meshed("web", "n2")}, 1, []string{"n2"}, []string{"n2"}, false},
		{"finished meshed pods need no plugin", daemonSet(1), []*corev1.Pod{plugin("a", "n1", true), finishedMeshed}, 1, nil, nil, true},
		{"InitContainer-meshed pods need no plugin", daemonSet(1), []*corev1.Pod{plugin("a", "n1", true),
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "old"}, Spec: corev1.PodSpec{NodeName: "n2"}}}, 1, nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Observe(tc.ds, tc.pods)
			if r.ReadyNodes != tc.ready || !slices.Equal(r.NotReady, tc.notReady) || !slices.Equal(r.Meshed, tc.meshed) {
				t.Fatalf("ready %d, not ready %v, meshed %v; want %d, %v, %v", r.ReadyNodes, r.NotReady, r.Meshed, tc.ready, tc.notReady, tc.meshed)
			}
			ok, why := r.Ready(10)
			if ok != tc.wantReady || (ok != (why == "")) {
				t.Fatalf("Ready() = %v, %q; want %v", ok, why, tc.wantReady)
			}
			for _, n := range tc.notReady {
				if !strings.Contains(why, n) {
					t.Fatalf("message %q does not name node %s", why, n)
				}
			}
		})
	}
}

func TestReadyMessageBoundsTheNames(t *testing.T) {
	var pods []*corev1.Pod
	for _, n := range []string{"n01", "n02", "n03", "n04"} {
		pods = append(pods, meshed("web-"+n, n))
	}
	ok, why := Observe(daemonSet(4), pods).Ready(2)
	want := "CNI plugin ready on 0/4 nodes; not ready on n01, n02 and 2 more; 4 of them run meshed pods, which fail their redirect check if restarted there"
	if ok || why != want {
		t.Fatalf("Ready() = %v, %q; want false, %q", ok, why, want)
	}
}

func TestRolledOut(t *testing.T) {
	ds := func(gen, observed int64, desired, updated, available, unavailable int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Status: appsv1.DaemonSetStatus{
			ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated,
			NumberAvailable: available, NumberUnavailable: unavailable}}
	}
	cases := []struct {
		name string
		ds   *appsv1.DaemonSet
		want bool
		why  string
	}{
		{"rolled out", ds(2, 2, 3, 3, 3, 0), true, ""},
		{"missing", nil, false, "missing"},
		{"new generation not observed: the old status proves nothing", ds(3, 2, 3, 3, 3, 0), false, "generation 3 not observed"},
		{"old plugin still on a node", ds(2, 2, 3, 2, 3, 0), false, "updated on 2/3 nodes"},
		{"updated but not available", ds(2, 2, 3, 3, 2, 1), false, "available on 2/3 nodes"},
		{"unavailable pods remain", ds(2, 2, 3, 3, 3, 1), false, "unavailable on 1 nodes"},
		{"no node targeted", ds(1, 1, 0, 0, 0, 0), true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := RolledOut(tc.ds)
			if ok != tc.want || !strings.Contains(why, tc.why) || (ok && why != "") {
				t.Fatalf("RolledOut = %v, %q; want %v, containing %q", ok, why, tc.want, tc.why)
			}
		})
	}
}
