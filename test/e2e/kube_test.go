//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/test/images"
)

// meshInstallations is the operator's cluster-scoped resource.
var meshInstallations = schema.GroupVersionResource{Group: "mesh.meshkeeper.io", Version: "v1alpha1", Resource: "meshinstallations"}

func clients(t testing.TB) (*kubernetes.Clientset, dynamic.Interface) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 20 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, dyn
}

// eventually polls check until it returns nil or ctx ends, then fails with the
// last error. Progress is logged every 15 s.
func eventually(t testing.TB, ctx context.Context, what string, check func(context.Context) error) {
	t.Helper()
	start, lastLog := time.Now(), time.Now()
	for {
		err := check(ctx)
		if err == nil {
			t.Logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(lastLog) > 15*time.Second {
			t.Logf("waiting: %s: %v", what, err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %s: %v", what, time.Since(start).Round(time.Second), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// deleteNamespace deletes a namespace and waits until it is gone.
func deleteNamespace(t testing.TB, cs kubernetes.Interface, name string) {
	t.Helper()
	_ = cs.CoreV1().Namespaces().Delete(ctxFor(t, 30*time.Second), name, metav1.DeleteOptions{})
	eventually(t, ctxFor(t, 5*time.Minute), "namespace "+name+" deleted", func(ctx context.Context) error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

// createNamespace creates ns with labels and deletes it when the test ends.
func createNamespace(t testing.TB, cs kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	// A namespace of this name that an earlier run of the same test deleted
	// (go test -count=N) may still be terminating: wait for it to go.
	eventually(t, ctxFor(t, 3*time.Minute), "namespace "+name+" of an earlier run gone", func(ctx context.Context) error {
		old, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err == nil && old.DeletionTimestamp != nil {
			return fmt.Errorf("still terminating")
		}
		return nil
	})
	ctx := ctxFor(t, 30*time.Second)
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// sampleBackend creates a Deployment and Service "backend" running the sample app.
func sampleBackend(t testing.TB, cs kubernetes.Interface, ns string, replicas int32) {
	t.Helper()
	sampleBackendNamed(t, cs, ns, "backend", replicas)
}

// sampleBackendNamed creates a Deployment and Service of the sample app's backend.
func sampleBackendNamed(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	sampleBackendArgs(t, cs, ns, name, replicas, "backend")
}

// sampleBackendArgs creates a Deployment and Service of the sample app run with args.
func sampleBackendArgs(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32, args ...string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	labels := map[string]string{"app": name}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "backend", Image: images.SampleAppImage, ImagePullPolicy: corev1.PullIfNotPresent,
					Args:           args,
					Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 2},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// runPod runs a one-shot sample-app pod and returns its log once it succeeded.
func runPod(t testing.TB, cs kubernetes.Interface, ns, name string, args []string, within time.Duration) string {
	t.Helper()
	ctx := ctxFor(t, within)
	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "app", Image: images.SampleAppImage, ImagePullPolicy: corev1.PullIfNotPresent, Args: args,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "pod "+ns+"/"+name+" succeeded", func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase == corev1.PodFailed {
			logs, _ := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
			t.Fatalf("pod %s failed: %s", name, logs)
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	logs, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(logs)
}

// deploymentReady is nil once every desired replica of the Deployment is available.
func deploymentReady(cs kubernetes.Interface, ns, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := ptr.Deref(d.Spec.Replicas, 1)
		if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas < want || d.Status.UpdatedReplicas < want {
			return fmt.Errorf("%s/%s: %d/%d available", ns, name, d.Status.AvailableReplicas, want)
		}
		return nil
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
