package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// appWithoutProxy plays a Deployment whose pod the injector failed open for:
// Deployment → ReplicaSet → running pod without the proxy. podAnnotations
// are set on the pod (e.g. an opt-out).
func appWithoutProxy(t *testing.T, ns, name string, podAnnotations map[string]string) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}}}
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-rs",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	if err := k8s.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-pod", Labels: labels, Annotations: podAnnotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: dep.Spec.Template.Spec}
	runPod(t, pod, corev1.PodRunning)
}

func runPod(t *testing.T, pod *corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: phase}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

func restartStamp(t *testing.T, ns, name string) string {
	t.Helper()
	var dep appsv1.Deployment
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &dep); err != nil {
		t.Fatal(err)
	}
	return dep.Spec.Template.Annotations[contract.RestartedAtAnnotation]
}

// eventSeen checks that the operator emitted an event with reason about an installation.
func eventSeen(installation, reason, eventType string) func() error {
	return func() error {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == installation && e.Reason == reason && e.Type == eventType {
				return nil
			}
		}
		return fmt.Errorf("no %s event %s for %s among %d", eventType, reason, installation, len(list.Items))
	}
}

// TestUnmeshedPodsAreRestartedOnceTheInjectorAnswers: pods admitted without
// the proxy in a meshed namespace are named in status and an event. While the
// injector probe fails, Ready stays False and nothing is restarted; once it
// answers, the owning Deployment is restarted. A bare pod is only reported,
// an opted-out or finished pod ignored, and with Report nothing is restarted.
func TestUnmeshedPodsAreRestartedOnceTheInjectorAnswers(t *testing.T) {
	ctx := context.Background()
	const name, cpNS, appNS = "unmeshed", "mk-unmeshed", "unmeshed-app"
	injector.fail("failed calling webhook: connection refused (simulated)")
	defer injector.fail("")

	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS,
		Labels: map[string]string{contract.InjectKey: contract.InjectEnabled}}}); err != nil {
		t.Fatal(err)
	}
	appWithoutProxy(t, appNS, "web", nil)
	appWithoutProxy(t, appNS, "optout", map[string]string{contract.InjectKey: contract.InjectDisabled})
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "bare"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	runPod(t, bare, corev1.PodRunning)
	done := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "done"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}, RestartPolicy: corev1.RestartPolicyNever}}
	runPod(t, done, corev1.PodSucceeded)

	if err := createInstallation(t, newInstallation(name, cpNS)); err != nil {
		t.Fatal(err)
	}
	markDeploymentsAvailable(t, cpNS)
	wantNames := []string{appNS + "/bare", appNS + "/web-pod"}
	eventually(t, "Ready held on the injector probe, unmeshed pods reported", func() error {
		markDeploymentsAvailableOnce(t, cpNS)
		mi := getInstallation(t, name)
		cp, ready, rec := findCondition(mi, meshv1.ConditionControlPlaneReady), findCondition(mi, meshv1.ConditionReady), findCondition(mi, meshv1.ConditionReconciling)
		if cp.Reason != meshv1.ReasonProbing || ready.Status != metav1.ConditionFalse || rec.Status != metav1.ConditionTrue ||
			!strings.Contains(rec.Message, "connection refused") {
			return fmt.Errorf("ControlPlaneReady %s/%s, Ready %s, Reconciling %s: %s", cp.Status, cp.Reason, ready.Status, rec.Status, rec.Message)
		}
		dp := mi.Status.DataPlane
		if dp.UnmeshedPods != 2 || !slices.Equal(dp.UnmeshedPodNames, wantNames) {
			return fmt.Errorf("data plane %+v", dp)
		}
		if c := findCondition(mi, meshv1.ConditionDataPlaneReady); c.Reason != meshv1.ReasonUnmeshedPods || !strings.Contains(c.Message, "waiting for the injector") {
			return fmt.Errorf("DataPlaneReady %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	eventually(t, "Warning event", eventSeen(name, meshv1.ReasonUnmeshedPods, corev1.EventTypeWarning))
	if stamp := restartStamp(t, appNS, "web"); stamp != "" {
		t.Fatalf("web restarted (%s) while the injector did not answer: its pods would come back unmeshed", stamp)
	}

	injector.fail("")
	eventually(t, "Ready once the probe passes", conditionIs(name, meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
	eventually(t, "web restarted", func() error {
		if restartStamp(t, appNS, "web") == "" {
			return fmt.Errorf("web not restarted; data plane: %s", findCondition(getInstallation(t, name), meshv1.ConditionDataPlaneReady).Message)
		}
		return nil
	})
	eventually(t, "restart event", eventSeen(name, "UnmeshedWorkloadsRestarted", corev1.EventTypeNormal))
	mi := getInstallation(t, name)
	if p := mi.Status.ControlPlane.Probe; p == nil || p.Subject == "" {
		t.Fatalf("passed probe not recorded: %+v", mi.Status.ControlPlane)
	}
	if c := findCondition(mi, meshv1.ConditionDataPlaneReady); !strings.Contains(c.Message, "without a restartable owner (bare, Job) are only reported; delete and recreate them: "+appNS+"/bare") {
		t.Errorf("DataPlaneReady: %s", c.Message)
	}
	if stamp := restartStamp(t, appNS, "optout"); stamp != "" {
		t.Errorf("an opted-out workload was restarted (%s)", stamp)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(bare), &corev1.Pod{}); err != nil {
		t.Errorf("the bare pod must be left alone: %v", err)
	}

	// Report: a new unmeshed workload is named, never restarted.
	mi = getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.DataPlane.UnmeshedPods = meshv1.UnmeshedPodsReport
	if err := k8s.Patch(ctx, mi, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Report acted on", func() error {
		if got := getInstallation(t, name); got.Status.ObservedGeneration != mi.Generation {
			return fmt.Errorf("observed generation %d, want %d", got.Status.ObservedGeneration, mi.Generation)
		}
		return nil
	})
	appWithoutProxy(t, appNS, "api", nil)
	eventually(t, "api reported", func() error {
		mi := getInstallation(t, name)
		c := findCondition(mi, meshv1.ConditionDataPlaneReady)
		if !slices.Contains(mi.Status.DataPlane.UnmeshedPodNames, appNS+"/api-pod") || !strings.Contains(c.Message, "unmeshedPods is Report") {
			return fmt.Errorf("data plane %+v: %s", mi.Status.DataPlane, c.Message)
		}
		return nil
	})
	if stamp := restartStamp(t, appNS, "api"); stamp != "" {
		t.Fatalf("api restarted (%s) under Report", stamp)
	}
}

// TestCNIPodWithoutRedirectRulesIsRestarted: a pod meshed in CNI mode whose
// startup check failed (its node's plugin was not there when its sandbox was
// set up) never starts its app and cannot recover in place; it is reported
// with the unmeshed pods and its Deployment restarted, so a new pod gets the
// rules.
func TestCNIPodWithoutRedirectRulesIsRestarted(t *testing.T) {
	ctx := context.Background()
	const name, cpNS, appNS = "norules", "mk-norules", "norules-app"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS,
		Labels: map[string]string{contract.InjectKey: contract.InjectEnabled}}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}}}
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web-rs",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	if err := k8s.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	// As the injector leaves it in CNI mode, and as the kubelet reports a
	// failed check in its back-off.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web-pod",
		Labels:          map[string]string{"app": "web", contract.ProxyVersionLabel: "0.1.0"},
		Annotations:     map[string]string{contract.InjectedAnnotation: "true", contract.CNIRedirectAnnotation: "--proxy-uid 2102"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.RedirectCheckContainerName, Image: "proxy-init:1"}},
			Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: contract.RedirectCheckContainerName,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}

	if err := createInstallation(t, newInstallation(name, cpNS)); err != nil {
		t.Fatal(err)
	}
	markDeploymentsAvailable(t, cpNS)
	eventually(t, "the pod without rules reported and its Deployment restarted", func() error {
		markDeploymentsAvailableOnce(t, cpNS)
		mi := getInstallation(t, name)
		if !slices.Contains(mi.Status.DataPlane.UnmeshedPodNames, appNS+"/web-pod") {
			return fmt.Errorf("data plane %+v", mi.Status.DataPlane)
		}
		if restartStamp(t, appNS, "web") == "" {
			return fmt.Errorf("web not restarted; data plane: %s", findCondition(mi, meshv1.ConditionDataPlaneReady).Message)
		}
		return nil
	})
}
