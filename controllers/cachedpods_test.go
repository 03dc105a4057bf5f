package controllers

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The pass reads the pods as the informer's own objects, not copies: two
// reads return the very same object, and a pod created is seen.
func TestCachedPodsAreTheInformersOwnObjects(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cached-pods"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "one"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, pod, client.GracePeriodSeconds(0)) })
	read := reconciler.Lifecycle.Pods
	if read == nil {
		t.Fatal("the reconciler reads pods through List, not the informer's store")
	}
	find := func() (*corev1.Pod, error) {
		pods, err := read(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if p.Namespace == pod.Namespace && p.Name == pod.Name {
				return p, nil
			}
		}
		return nil, fmt.Errorf("pod %s/%s not among %d cached pods", pod.Namespace, pod.Name, len(pods))
	}
	var first *corev1.Pod
	eventually(t, "the new pod in the cache", func() (err error) { first, err = find(); return err })
	second, err := find()
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("two reads returned two copies of the pod: the informer's store was not read (CachedPods fell back to List)")
	}
}

func TestPodsOfRefusesAnotherKind(t *testing.T) {
	p := &corev1.Pod{}
	got, err := objectsOf[*corev1.Pod]([]any{p})
	if err != nil || len(got) != 1 || got[0] != p {
		t.Fatalf("objectsOf = %v, %v", got, err)
	}
	if _, err := objectsOf[*corev1.Pod]([]any{p, &corev1.ConfigMap{}}); err == nil {
		t.Fatal("a ConfigMap in the pod store was taken for a pod")
	}
}
