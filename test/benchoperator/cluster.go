package main

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Size is one point of the simulation.
type Size struct {
	Name        string
	Namespaces  int // every tenth is not meshed
	Deployments int // spread over the meshed namespaces, one ReplicaSet each
	Pods        int // meshed pods, spread over the Deployments
	ChurnRate   int // pod readiness changes per second
	ChurnFor    int // seconds
	Noop        int // direct no-op reconciles measured, back to back
	Paced       int // and paced (Point.NoopPaced)
}

var sizes = map[string]Size{
	"small": {Name: "small", Namespaces: 20, Deployments: 20, Pods: 200, ChurnRate: 50, ChurnFor: 15, Noop: 200, Paced: 40},
	"large": {Name: "large", Namespaces: 200, Deployments: 500, Pods: 5000, ChurnRate: 50, ChurnFor: 30, Noop: 100, Paced: 40},
}

const proxyVersion = "0.1.0"

func meshed(i int) bool { return i%10 != 9 }

func nsName(i int) string { return fmt.Sprintf("bench-%03d", i) }

// deployment is one Deployment of a size's layout.
type deployment struct {
	Namespace, Name string
	Replicas        int
}

// layout places sz.Deployments over the meshed namespaces and sz.Pods over
// the Deployments; populate creates it, and podKeys names its pods.
func layout(sz Size) []deployment {
	var meshedNS []string
	for i := range sz.Namespaces {
		if meshed(i) {
			meshedNS = append(meshedNS, nsName(i))
		}
	}
	out := make([]deployment, sz.Deployments)
	for d := range out {
		out[d] = deployment{Namespace: meshedNS[d%len(meshedNS)], Name: fmt.Sprintf("app-%04d", d),
			Replicas: sz.Pods/sz.Deployments + btoi(d < sz.Pods%sz.Deployments)}
	}
	return out
}

func replicaSetName(deployment string) string { return deployment + "-7d9f8" }

func podName(replicaSet string, i int) string { return fmt.Sprintf("%s-%d", replicaSet, i) }

// podKeys names every meshed pod populate creates for sz.
func podKeys(sz Size) []client.ObjectKey {
	var keys []client.ObjectKey
	for _, d := range layout(sz) {
		for i := range d.Replicas {
			keys = append(keys, client.ObjectKey{Namespace: d.Namespace, Name: podName(replicaSetName(d.Name), i)})
		}
	}
	return keys
}

// populate creates the namespaces, Deployments, their ReplicaSets and the
// meshed pods (Running and Ready, as a kubelet would report them).
func populate(ctx context.Context, c client.Client, sz Size) error {
	for i := range sz.Namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}}
		if meshed(i) {
			ns.Labels = map[string]string{contract.InjectKey: contract.InjectEnabled}
		}
		if err := c.Create(ctx, ns); err != nil {
			return err
		}
	}
	deps := layout(sz)
	return parallel(16, len(deps), func(d int) error {
		return workload(ctx, c, deps[d])
	})
}

func workload(ctx context.Context, c client.Client, d deployment) error {
	labels := map[string]string{"app": d.Name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(d.Replicas)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	if err := c.Create(ctx, dep); err != nil {
		return err
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: replicaSetName(d.Name), Labels: labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dep, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(d.Replicas)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	if err := c.Create(ctx, rs); err != nil {
		return err
	}
	for i := range d.Replicas {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: podName(rs.Name, i),
			Labels:          map[string]string{"app": d.Name, contract.ProxyVersionLabel: proxyVersion},
			Annotations:     map[string]string{contract.InjectedAnnotation: "true"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}, {Name: contract.ProxyContainerName, Image: "proxy:" + proxyVersion}}}}
		if err := c.Create(ctx, pod); err != nil {
			return err
		}
		if err := setReady(ctx, c, pod, true, i); err != nil {
			return err
		}
	}
	return nil
}

// setReady writes the status a kubelet would: Running, an IP, and the proxy's readiness.
func setReady(ctx context.Context, c client.Client, pod *corev1.Pod, ready bool, ip int) error {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.%d.%d.%d", ip>>16&255, ip>>8&255, ip&255),
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "app:1"},
			{Name: contract.ProxyContainerName, Ready: ready, Image: "proxy:" + proxyVersion}}}
	return c.Status().Update(ctx, pod)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(workers, n int, f func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
loop:
	for i := range n {
		select {
		case next <- i:
		case err = <-errs:
			break loop
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}
