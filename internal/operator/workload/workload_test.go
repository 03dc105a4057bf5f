package workload

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestRestart(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: "shop", Name: name} }
	dep := &appsv1.Deployment{ObjectMeta: meta("web")}
	dep.Spec.Template.Annotations = map[string]string{"keep": "me"}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dep,
		&appsv1.StatefulSet{ObjectMeta: meta("db")}, &appsv1.DaemonSet{ObjectMeta: meta("agent")}).Build()
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 12, 30, 0, 999, time.FixedZone("CET", 3600))
	want := "2026-11-25T11:30:00Z"

	for key, obj := range map[string]client.Object{
		"Deployment/shop/web": &appsv1.Deployment{}, "StatefulSet/shop/db": &appsv1.StatefulSet{}, "DaemonSet/shop/agent": &appsv1.DaemonSet{},
	} {
		if err := Restart(ctx, c, key, at); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		_, _, name, _ := ParseKey(key)
		if err := c.Get(ctx, types.NamespacedName{Namespace: "shop", Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		var ann map[string]string
		switch o := obj.(type) {
		case *appsv1.Deployment:
			ann = o.Spec.Template.Annotations
			if ann["keep"] != "me" {
				t.Error("a merge patch keeps the other template annotations")
			}
		case *appsv1.StatefulSet:
			ann = o.Spec.Template.Annotations
		case *appsv1.DaemonSet:
			ann = o.Spec.Template.Annotations
		}
		if ann[contract.RestartedAtAnnotation] != want {
			t.Errorf("%s: stamp %q, want %q", key, ann[contract.RestartedAtAnnotation], want)
		}
	}

	var before appsv1.Deployment
	_ = c.Get(ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, &before)
	if err := Restart(ctx, c, "Deployment/shop/web", at.Add(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var after appsv1.Deployment
	_ = c.Get(ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, &after)
	if after.ResourceVersion != before.ResourceVersion {
		t.Error("restarting again with the same stamp must not write")
	}
	if err := Restart(ctx, c, "Deployment/shop/web", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_ = c.Get(ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, &after)
	if after.Spec.Template.Annotations[contract.RestartedAtAnnotation] != "2026-11-25T11:31:00Z" {
		t.Error("a new stamp restarts again")
	}

	if err := Restart(ctx, c, "Deployment/shop/missing", at); err == nil {
		t.Error("restarting a missing workload must fail")
	}
	if err := Restart(ctx, c, "ReplicaSet/shop/web-abc", at); err == nil {
		t.Error("a ReplicaSet cannot be restarted")
	}
	if err := Restart(ctx, c, "bogus", at); err == nil {
		t.Error("a bad key must fail")
	}
}

func TestLastRestart(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	stamped := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}}
	stamped.Spec.Template.Annotations = map[string]string{contract.RestartedAtAnnotation: "2026-11-25T11:30:00Z"}
	garbled := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "agent"}}
	garbled.Spec.Template.Annotations = map[string]string{contract.RestartedAtAnnotation: "yesterday"}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stamped, garbled,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}).Build()
	ctx := context.Background()
	for key, want := range map[string]time.Time{
		"StatefulSet/shop/db":  time.Date(2026, 11, 25, 11, 30, 0, 0, time.UTC),
		"DaemonSet/shop/agent": {},
		"Deployment/shop/web":  {},
	} {
		got, err := LastRestart(ctx, c, key)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", key, got, err, want)
		}
	}
	for _, key := range []string{"Deployment/shop/missing", "ReplicaSet/shop/web-1", "bogus"} {
		if _, err := LastRestart(ctx, c, key); err == nil {
			t.Errorf("%s: want an error", key)
		}
	}
}
