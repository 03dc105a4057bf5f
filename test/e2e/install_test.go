//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

const (
	operatorNamespace  = "meshkeeper-system"
	operatorDeployment = "meshkeeper-controller-manager"
	sampleCR           = "config/samples/mesh_v1alpha1_meshinstallation.yaml"
)

// TestInstallAndUninstall deploys the operator as users do, installs the mesh
// from the sample MeshInstallation, then deletes it and checks that the mesh is
// gone while a user's workload was never touched.
func TestInstallAndUninstall(t *testing.T) {
	cs, dyn := clients(t)
	if err := makeTarget(15*time.Minute, "deploy"); err != nil {
		t.Fatalf("make deploy: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // keep the operator for the diagnostics TestMain collects
		}
		if err := makeTarget(5*time.Minute, "undeploy"); err != nil {
			t.Errorf("make undeploy: %v", err)
		}
	})
	eventually(t, ctxFor(t, 3*time.Minute), "operator available", deploymentReady(cs, operatorNamespace, operatorDeployment))

	const userNS = "e2e-user"
	createNamespace(t, cs, userNS, nil)
	sampleBackend(t, cs, userNS, 2)
	eventually(t, ctxFor(t, 2*time.Minute), "user workload ready", deploymentReady(cs, userNS, "backend"))
	userPods := podUIDs(t, cs, userNS, "app=backend")

	mi := readSample(t)
	name := mi.GetName()
	cpNamespace, _, _ := unstructured.NestedString(mi.Object, "spec", "controlPlane", "namespace")
	if cpNamespace == "" {
		cpNamespace = operatorNamespace
	}
	selector := contract.InstallationLabel + "=" + name

	applied := time.Now()
	if _, err := dyn.Resource(meshInstallations).Create(ctxFor(t, 30*time.Second), mi, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create MeshInstallation: %v", err)
	}
	eventually(t, ctxFor(t, 5*time.Minute), "MeshInstallation "+name+" Ready", func(ctx context.Context) error {
		obj, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return conditionTrue(obj, "Ready")
	})
	t.Logf("FIGURE cr-apply-to-ready-seconds=%.1f", time.Since(applied).Seconds())
	// Ready is earned: a pod created in a meshed namespace right now is
	// injected at the first attempt (the injector's Service routes), no retry.
	createNamespace(t, cs, "e2e-ready", map[string]string{contract.InjectKey: contract.InjectEnabled})
	if err := dryRunInjected(ctxFor(t, 30*time.Second), cs, "e2e-ready"); err != nil {
		t.Fatalf("right after Ready: %v", err)
	}

	deps, err := cs.AppsV1().Deployments(cpNamespace).List(ctxFor(t, 20*time.Second), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(deps.Items) == 0 {
		t.Fatalf("control-plane Deployments labelled %s: %d, %v", selector, len(deps.Items), err)
	}
	// The rendered objects carry the installation label; their pods are found
	// through each Deployment's own selector.
	var podSelectors []string
	for _, d := range deps.Items {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		podSelectors = append(podSelectors, sel.String())
	}
	t.Logf("control plane: %d Deployments, pod selectors %v", len(deps.Items), podSelectors)
	eventually(t, ctxFor(t, time.Minute), "control-plane pods Running and Ready", func(ctx context.Context) error {
		for _, sel := range podSelectors {
			pods, err := cs.CoreV1().Pods(cpNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return err
			}
			if len(pods.Items) == 0 {
				return fmt.Errorf("no pods for %s in %s", sel, cpNamespace)
			}
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodRunning || !podReady(&p) {
					return fmt.Errorf("pod %s is %s (ready=%v)", p.Name, p.Status.Phase, podReady(&p))
				}
			}
		}
		return nil
	})

	if err := dyn.Resource(meshInstallations).Delete(ctxFor(t, 30*time.Second), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete MeshInstallation: %v", err)
	}
	eventually(t, ctxFor(t, 3*time.Minute), "MeshInstallation and its finalizer gone", func(ctx context.Context) error {
		obj, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still present (finalizers %v, deleting since %v)", obj.GetFinalizers(), obj.GetDeletionTimestamp())
	})
	eventually(t, ctxFor(t, 2*time.Minute), "control-plane Deployments and pods gone", func(ctx context.Context) error {
		d, err := cs.AppsV1().Deployments(cpNamespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		pods := 0
		for _, sel := range podSelectors {
			p, err := cs.CoreV1().Pods(cpNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return err
			}
			pods += len(p.Items)
		}
		if len(d.Items)+pods > 0 {
			return fmt.Errorf("%d Deployments, %d pods left", len(d.Items), pods)
		}
		return nil
	})

	if err := deploymentReady(cs, userNS, "backend")(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatalf("user workload disturbed: %v", err)
	}
	if after := podUIDs(t, cs, userNS, "app=backend"); fmt.Sprint(after) != fmt.Sprint(userPods) {
		t.Fatalf("user pods were replaced: before %v, after %v", userPods, after)
	}
}

func readSample(t testing.TB) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.repo, sampleCR))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

// conditionTrue is nil when the object's status condition cond is True.
func conditionTrue(obj *unstructured.Unstructured, cond string) error {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == cond {
			if m["status"] == "True" {
				return nil
			}
			return fmt.Errorf("%s=%v: %v: %v", cond, m["status"], m["reason"], m["message"])
		}
	}
	return fmt.Errorf("no %s condition yet", cond)
}

func podUIDs(t testing.TB, cs kubernetes.Interface, ns, selector string) []string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctxFor(t, 20*time.Second), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		uids = append(uids, string(p.UID))
	}
	return uids
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
