//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/test/cluster"
	"github.com/meshkeeper/meshkeeper/test/images"
)

// TestCNIMode installs the mesh with spec.dataPlane.redirect CNI, on the
// local cluster whose bridge conflist is the node's CNI configuration: the
// plugin's DaemonSet chains itself in; a namespace enforcing Pod Security
// "restricted" admits meshed pods, which talk mTLS to a strict server that
// refuses plaintext; deleting the installation leaves the node's conflist
// byte-for-byte as it was and removes the plugin binary.
func TestCNIMode(t *testing.T) {
	cs, dyn := clients(t)
	confDir := cluster.Paths{Root: envOr("MESHKEEPER_CLUSTER_DIR", cluster.DefaultWorkDir)}.CNIConfDir()
	conflist := filepath.Join(confDir, cluster.NodeConflist)
	plugin := filepath.Join(cluster.CNIBinDir, "meshkeeper-cni")
	original, err := os.ReadFile(conflist)
	if err != nil {
		t.Fatal(err)
	}
	before := fileSHA256(t, conflist)
	if _, err := os.Stat(plugin); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists before the installation (%v): an earlier run left it", plugin, err)
	}
	t.Cleanup(func() {
		// The bin dir is this machine's, and outlives the cluster.
		if err := os.Remove(plugin); err == nil {
			t.Errorf("the test removed %s the uninstall left behind", plugin)
		}
	})

	name := installMesh(t, cs, dyn, map[string]any{
		"dataPlane":    map[string]any{"redirect": "CNI"},
		"controlPlane": map[string]any{"values": map[string]any{"cni": cniDirs()}},
	})
	t.Cleanup(func() {
		if t.Failed() {
			return // keep everything for the diagnostics
		}
		if err := makeTarget(5*time.Minute, "undeploy"); err != nil {
			t.Errorf("make undeploy: %v", err)
		}
	})
	installed := time.Now()
	eventually(t, ctxFor(t, 2*time.Minute), "CNI DaemonSet ready on every node", daemonSetReady(cs, operatorNamespace, contract.CNIDaemonSetName))
	t.Logf("FIGURE cni-daemonset-ready-after-installation-ready-seconds=%.1f", time.Since(installed).Seconds())
	chained := func(context.Context) error {
		raw, err := os.ReadFile(conflist)
		if err != nil || !strings.Contains(string(raw), `"type":"meshkeeper-cni"`) {
			return fmt.Errorf("the node's conflist does not chain the plugin (%v):\n%s", err, raw)
		}
		return nil
	}
	if err := chained(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The network plugin rewrites its conflist (here: the original bytes,
	// renamed into place as such agents do); the agent chains itself again,
	// and the pods below are set up by the repaired chain.
	rewritten := time.Now()
	renameInto(t, conflist, original)
	eventually(t, ctxFor(t, time.Minute), "the agent repairs a rewritten conflist", chained)
	t.Logf("FIGURE cni-repair-seconds=%.2f", time.Since(rewritten).Seconds())

	const ns = "e2e-cni"
	createNamespace(t, cs, ns, map[string]string{contract.InjectKey: contract.InjectEnabled,
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	setAnnotation(t, cs, ns, contract.MTLSModeKey, contract.MTLSStrict)
	createServiceAccount(t, cs, ns, "client")
	eventually(t, ctxFor(t, 2*time.Minute), "restricted admits a meshed pod (dry run)", func(ctx context.Context) error {
		return dryRunRestrictedMeshed(ctx, cs, ns)
	})
	// The control: the namespace does enforce restricted here.
	unrestricted := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unrestricted-probe", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: images.SampleAppImage}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctxFor(t, 20*time.Second), unrestricted, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil ||
		!strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a pod without a restricted security context was not refused by Pod Security: %v", err)
	}

	restrictedBackend(t, cs, ns)
	eventually(t, ctxFor(t, 3*time.Minute), "meshed backend ready under restricted", deploymentReady(cs, ns, "backend"))
	backends := meshedPods(t, cs, ns, "app=backend")
	if len(backends) != 1 {
		t.Fatalf("want 1 meshed backend pod, got %d", len(backends))
	}
	requireCNIMeshed(t, &backends[0])

	// Strict: only mTLS gets in, so a meshed client's success is mTLS, and
	// the server's proxy counts it under the client's identity.
	restrictedClient(t, cs, ns, "meshed-client", "client", "http://backend."+ns+".svc/")
	fams, err := proxyFamilies(ctxFor(t, 10*time.Second), backends[0].Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	const client = "spiffe://cluster.local/ns/" + ns + "/sa/client"
	served := sumCounter(fams, contract.MetricRequestsTotal, map[string]string{
		contract.LabelDirection: contract.DirectionInbound, contract.LabelTLS: "true", contract.LabelPeerIdentity: client,
		contract.LabelClassification: contract.ClassSuccess})
	if served != 1 {
		t.Fatalf("the strict backend's proxy counted %v mTLS requests from %s, want 1", served, client)
	}
	createNamespace(t, cs, "e2e-cni-plain", nil)
	expectPodFails(t, cs, "e2e-cni-plain", "plain-to-strict", []string{"get", "-url", "http://backend." + ns + ".svc/", "-timeout", "15s"})

	// Two replicas, so restarts keep one serving; then the golden metrics and
	// an upgrade under load, both in CNI mode.
	scaleDeployment(t, cs, ns, "backend", 2)
	eventually(t, ctxFor(t, 3*time.Minute), "two meshed backends under restricted", deploymentReady(cs, ns, "backend"))
	testCNIGoldenMetrics(t, cs, ns, "client")
	testCNIUpgradeUnderLoad(t, cs, dyn, name, ns, "client")

	// Uninstall: the DaemonSet goes, and its pods take the plugin out.
	uninstalled := time.Now()
	if err := dyn.Resource(meshInstallations).Delete(ctxFor(t, 30*time.Second), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctxFor(t, 3*time.Minute), "MeshInstallation gone", func(ctx context.Context) error {
		if _, err := dyn.Resource(meshInstallations).Get(ctx, name, metav1.GetOptions{}); !isNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	eventually(t, ctxFor(t, 2*time.Minute), "CNI agent pods gone", func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods(operatorNamespace).List(ctx, metav1.ListOptions{LabelSelector: contract.ComponentLabel + "=" + contract.CNIComponent})
		if err != nil || len(pods.Items) > 0 {
			return fmt.Errorf("%d pods left (%v)", len(pods.Items), err)
		}
		return nil
	})
	after := fileSHA256(t, conflist)
	if after != before {
		raw, _ := os.ReadFile(conflist)
		t.Fatalf("after uninstall the node's conflist is sha256 %s, was %s:\n%s", after, before, raw)
	}
	if _, err := os.Stat(plugin); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the plugin binary is still there after uninstall: %v", err)
	}
	t.Logf("FIGURE cni-uninstall-seconds=%.1f conflist-sha256 before=%s after=%s", time.Since(uninstalled).Seconds(), before, after)
}

// renameInto replaces path with data through a temporary file the runtime
// does not load (no configuration extension) and a rename.
func renameInto(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".e2e-rewrite.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func daemonSetReady(cs kubernetes.Interface, ns, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.DesiredNumberScheduled == 0 || s.NumberReady < s.DesiredNumberScheduled || s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
			return fmt.Errorf("%s/%s: %d/%d ready", ns, name, s.NumberReady, s.DesiredNumberScheduled)
		}
		return nil
	}
}

func setAnnotation(t testing.TB, cs kubernetes.Interface, ns, key, value string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if _, err := cs.CoreV1().Namespaces().Patch(ctxFor(t, 10*time.Second), ns, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// restrictedPod is a sample-app pod that meets Pod Security "restricted".
func restrictedPod(sa string, args ...string) corev1.PodSpec {
	return corev1.PodSpec{ServiceAccountName: sa,
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "app", Image: images.SampleAppImage, ImagePullPolicy: corev1.PullIfNotPresent, Args: args,
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}
}

// dryRunRestrictedMeshed: admission (the injector, then Pod Security)
// accepts a restricted pod and returns it meshed.
func dryRunRestrictedMeshed(ctx context.Context, cs kubernetes.Interface, ns string) error {
	return dryRunMeshed(ctx, cs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "restricted-probe", Namespace: ns}, Spec: restrictedPod("", "backend")})
}

// requireCNIMeshed: the pod runs the proxy with its CNI-mode check, and no
// container of it asks for a capability.
func requireCNIMeshed(t testing.TB, p *corev1.Pod) {
	t.Helper()
	names := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		names[c.Name] = true
		if sc := c.SecurityContext; sc != nil && ((sc.Capabilities != nil && len(sc.Capabilities.Add) > 0) || ptr.Deref(sc.Privileged, false)) {
			t.Errorf("container %s asks for privileges: %+v", c.Name, sc)
		}
	}
	if !names[contract.ProxyContainerName] || !names[contract.RedirectCheckContainerName] || names[contract.ProxyInitContainerName] {
		t.Fatalf("pod %s containers %v: want the proxy and %s, no %s", p.Name, names, contract.RedirectCheckContainerName, contract.ProxyInitContainerName)
	}
	if p.Annotations[contract.CNIRedirectAnnotation] == "" {
		t.Fatalf("pod %s lacks %s", p.Name, contract.CNIRedirectAnnotation)
	}
}

func restrictedBackend(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	labels := map[string]string{"app": "backend"}
	spec := restrictedPod("", "backend")
	spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 2}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// restrictedClient runs one meshed GET to target and waits for its success.
func restrictedClient(t testing.TB, cs kubernetes.Interface, ns, name, sa, target string) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	spec := restrictedPod(sa, "get", "-url", target, "-timeout", "60s")
	spec.RestartPolicy = corev1.RestartPolicyNever
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "meshed client "+name+" succeeded", func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase == corev1.PodFailed {
			logs, _ := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
			t.Fatalf("client %s failed: %s", name, logs)
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		requireCNIMeshed(t, p)
		return nil
	})
}
