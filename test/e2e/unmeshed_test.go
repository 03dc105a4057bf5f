//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

const injectorDeployment = "meshkeeper-injector"

// testUnmeshedPodsRestarted: with the injector down, a Deployment created in a
// meshed namespace gets pods without the proxy (the webhook fails open). Once
// the injector is back, the operator names them in status and restarts the
// Deployment, which ends up meshed with no user action. The installation is
// paused while the injector is down, or its drift repair would scale the
// injector straight back before the Deployment's pods are admitted.
func testUnmeshedPodsRestarted(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	const ns, app = "e2e-mesh", "late"
	patchMI(t, dyn, name, `{"spec":{"paused":true}}`)
	scaleInjector(t, cs, 0)
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			scaleInjector(t, cs, 1)
			patchMI(t, dyn, name, `{"spec":{"paused":false}}`)
		}
	})
	eventually(t, ctxFor(t, 2*time.Minute), "injector gone", func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods(operatorNamespace).List(ctx, metav1.ListOptions{LabelSelector: contract.ComponentLabel + "=injector"})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d injector pods left", len(pods.Items))
		}
		return nil
	})
	sampleBackendNamed(t, cs, ns, app, 1)
	eventually(t, ctxFor(t, 2*time.Minute), "late admitted unmeshed and running", func(ctx context.Context) error {
		if err := deploymentReady(cs, ns, app)(ctx); err != nil {
			return err
		}
		if n := len(meshedPods(t, cs, ns, "app="+app)); n != 0 {
			return fmt.Errorf("%d pods meshed although the injector is down", n)
		}
		return nil
	})

	start := time.Now()
	scaleInjector(t, cs, 1)
	patchMI(t, dyn, name, `{"spec":{"paused":false}}`)
	resumed = true
	var shown string
	eventually(t, ctxFor(t, 4*time.Minute), "late meshed with no user action", func(ctx context.Context) error {
		obj, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		names, _, _ := unstructured.NestedStringSlice(obj.Object, "status", "dataPlane", "unmeshedPodNames")
		if shown == "" && slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ns+"/"+app+"-") }) {
			c := findCondition(obj, "DataPlaneReady")
			shown = fmt.Sprintf("%v after %.1fs: %v", names, time.Since(start).Seconds(), c["message"])
			t.Logf("status showed the unmeshed pods: %s", shown)
		}
		if shown == "" {
			return fmt.Errorf("status has not shown the unmeshed pods yet: %v", names)
		}
		if err := deploymentReady(cs, ns, app)(ctx); err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		meshed := meshedPods(t, cs, ns, "app="+app)
		if len(pods.Items) != 1 || len(meshed) != 1 || !podReady(&meshed[0]) {
			return fmt.Errorf("%d pods, %d meshed", len(pods.Items), len(meshed))
		}
		return nil
	})
	t.Logf("FIGURE unmeshed-to-meshed-seconds=%.1f", time.Since(start).Seconds())
	eventually(t, ctxFor(t, time.Minute), "status clear again", func(ctx context.Context) error {
		obj, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n, _, _ := unstructured.NestedInt64(obj.Object, "status", "dataPlane", "unmeshedPods"); n != 0 {
			return fmt.Errorf("%d unmeshed pods", n)
		}
		return conditionTrue(obj, "Ready")
	})
	events, err := cs.EventsV1().Events("").List(ctxFor(t, 20*time.Second), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Name == name && (e.Reason == "UnmeshedPods" || e.Reason == "UnmeshedWorkloadsRestarted") {
			reasons = append(reasons, e.Type+"/"+e.Reason+": "+e.Note)
		}
	}
	if len(reasons) < 2 {
		t.Fatalf("want the UnmeshedPods warning and the restart event, got %v", reasons)
	}
	t.Logf("events: %v", reasons)
}

func scaleInjector(t testing.TB, cs kubernetes.Interface, replicas int32) {
	t.Helper()
	ctx := ctxFor(t, 20*time.Second)
	scale, err := cs.AppsV1().Deployments(operatorNamespace).GetScale(ctx, injectorDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = replicas
	if _, err := cs.AppsV1().Deployments(operatorNamespace).UpdateScale(ctx, injectorDeployment, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
