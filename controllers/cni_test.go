package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// cniInstallation is an installation that redirects with the CNI plugin.
func cniInstallation(name, ns string) *meshv1.MeshInstallation {
	mi := newInstallation(name, ns)
	mi.Spec.DataPlane.Redirect = meshv1.RedirectCNI
	return mi
}

// cniDaemonSet returns the installation's CNI plugin DaemonSet once its
// release is deployed: the chart's own when it renders one, else one created
// here as the post-renderer would label and own it (for a chart without the
// plugin).
func cniDaemonSet(t *testing.T, installation, ns string) *appsv1.DaemonSet {
	t.Helper()
	ctx := context.Background()
	eventually(t, "release deployed", func() error {
		if _, st := latestRevision(t, ns); st != "deployed" {
			return fmt.Errorf("latest revision %q", st)
		}
		return nil
	})
	ds := &appsv1.DaemonSet{}
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: contract.CNIDaemonSetName}, ds)
	if !apierrors.IsNotFound(err) {
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	mi := getInstallation(t, installation)
	labels := map[string]string{contract.ComponentLabel: contract.CNIComponent, contract.InstallationLabel: installation}
	ds = &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: contract.CNIDaemonSetName, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: meshv1.GroupVersion.String(), Kind: "MeshInstallation", Name: mi.Name,
			UID: mi.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "install-cni", Image: "cni:1"}}}}}}
	if err := k8s.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

// setDaemonSetStatus plays the DaemonSet controller: desired nodes, of which
// updated run the current template and available are available. observed
// false leaves the current generation unobserved (a rollout not started).
func setDaemonSetStatus(t *testing.T, ns string, desired, updated, available int32, observed bool) {
	t.Helper()
	eventually(t, "set the CNI DaemonSet's status", func() error { return daemonSetStatus(ns, desired, updated, available, observed) })
}

func daemonSetStatus(ns string, desired, updated, available int32, observed bool) error {
	var ds appsv1.DaemonSet
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: contract.CNIDaemonSetName}, &ds); err != nil {
		return err
	}
	gen := ds.Generation
	if !observed {
		gen--
	}
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: gen, DesiredNumberScheduled: desired, CurrentNumberScheduled: desired,
		UpdatedNumberScheduled: updated, NumberAvailable: available, NumberReady: available, NumberUnavailable: desired - available}
	return k8s.Status().Update(context.Background(), &ds)
}

// pluginPod plays the plugin pod the DaemonSet runs on a node (controlled by
// it, labelled as the chart labels its pods: not with the installation).
func pluginPod(t *testing.T, ns, node string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	key := client.ObjectKey{Namespace: ns, Name: "meshkeeper-cni-" + node}
	if err := k8s.Get(ctx, key, pod); apierrors.IsNotFound(err) {
		var ds appsv1.DaemonSet
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: contract.CNIDaemonSetName}, &ds); err != nil {
			t.Fatal(err)
		}
		pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: key.Name,
			Labels:          map[string]string{contract.ComponentLabel: contract.CNIComponent},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "install-cni", Image: "cni:1"}}}}
		if err := k8s.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

// cniMeshedPod plays a pod the injector meshed in CNI mode, on a node.
func cniMeshedPod(t *testing.T, ns, name, node string) {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels:      map[string]string{contract.ProxyVersionLabel: "0.1.0"},
		Annotations: map[string]string{contract.CNIRedirectAnnotation: "15001 15006"}},
		Spec: injected(corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}})}
	runPod(t, pod, corev1.PodRunning)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), pod, client.GracePeriodSeconds(0)) })
}

// removeApp deletes a test app's pods, ReplicaSets and Deployments when the
// test ends (envtest runs no garbage collector): later tests count the
// cluster's meshed pods and plan upgrades over them.
func removeApp(t *testing.T, ns string) {
	t.Cleanup(func() {
		ctx := context.Background()
		for _, obj := range []client.Object{&corev1.Pod{}, &appsv1.ReplicaSet{}, &appsv1.Deployment{}} {
			if err := k8s.DeleteAllOf(ctx, obj, client.InNamespace(ns), client.GracePeriodSeconds(0)); err != nil {
				t.Errorf("clean up %s: %v", ns, err)
			}
		}
	})
}

func cniStatusIs(name string, want meshv1.CNIPluginStatus) func() error {
	return func() error {
		got := getInstallationNoFail(name).Status.CNIPlugin
		if got == nil || got.DesiredNodes != want.DesiredNodes || got.ReadyNodes != want.ReadyNodes || got.UpdatedNodes != want.UpdatedNodes ||
			got.NotReadyNodes != want.NotReadyNodes || !slices.Equal(got.NotReadyNodeNames, want.NotReadyNodeNames) {
			return fmt.Errorf("status.cniPlugin %+v, want %+v", got, want)
		}
		return nil
	}
}

func getInstallationNoFail(name string) *meshv1.MeshInstallation {
	mi := &meshv1.MeshInstallation{}
	_ = k8s.Get(context.Background(), client.ObjectKey{Name: name}, mi)
	return mi
}

// The plugin's readiness is per node: the installation is not Ready while a
// node's plugin pod is not ready, or a node runs CNI-meshed pods without one,
// and status names those nodes.
func TestCNIPluginReadinessPerNode(t *testing.T) {
	const name, ns = "cni", "mk-cni"
	if err := createInstallation(t, cniInstallation(name, ns)); err != nil {
		t.Fatal(err)
	}
	cniDaemonSet(t, name, ns)
	markDeploymentsAvailable(t, ns)
	eventually(t, "not Ready before the DaemonSet reports", conditionIs(name, meshv1.ConditionReady, metav1.ConditionFalse, meshv1.ReasonCNIPluginNotReady))

	setDaemonSetStatus(t, ns, 2, 2, 1, true)
	pluginPod(t, ns, "node-a", true)
	pluginPod(t, ns, "node-b", false)
	cniMeshedPod(t, "cni-app", "web", "node-c")
	eventually(t, "nodes b and c named", cniStatusIs(name, meshv1.CNIPluginStatus{DesiredNodes: 2, ReadyNodes: 1, UpdatedNodes: 2,
		NotReadyNodes: 2, NotReadyNodeNames: []string{"node-b", "node-c"}}))
	eventually(t, "Ready False naming the nodes", func() error {
		c := findCondition(getInstallationNoFail(name), meshv1.ConditionReady)
		if c.Status != metav1.ConditionFalse || c.Reason != meshv1.ReasonCNIPluginNotReady ||
			!strings.Contains(c.Message, "node-b, node-c") || !strings.Contains(c.Message, "1 of them run meshed pods") {
			return fmt.Errorf("Ready %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})

	pluginPod(t, ns, "node-b", true)
	pluginPod(t, ns, "node-c", true)
	setDaemonSetStatus(t, ns, 3, 3, 3, true)
	eventually(t, "every node ready", cniStatusIs(name, meshv1.CNIPluginStatus{DesiredNodes: 3, ReadyNodes: 3, UpdatedNodes: 3}))
	eventually(t, "Ready", conditionIs(name, meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
}

// In CNI mode the upgrade's control-plane step gates on the plugin's
// DaemonSet too: no workload restarts while a node still runs the old
// plugin, and the upgrade goes on once every node runs the new one.
func TestUpgradeWaitsForTheCNIDaemonSetRollout(t *testing.T) {
	const name, ns = "cniup", "mk-cniup"
	readyCNIInstallation(t, name, ns)
	meshedDeployment(t, "cniup-app", "web")
	removeApp(t, "cniup-app")

	// The node still runs the old plugin: the DaemonSet's rollout is not over.
	setDaemonSetStatus(t, ns, 1, 0, 1, true)
	bumpVersion(t, name, "0.2.0", &meshv1.UpgradeSpec{Gate: shortGate()})
	waiting := func() error {
		markDeploymentsAvailableOnce(t, ns)
		u := getInstallationNoFail(name).Status.Upgrade
		if u == nil || u.Phase != "ControlPlane" || u.CurrentWave != -1 || !strings.Contains(u.Message, "CNI plugin") {
			return fmt.Errorf("upgrade %+v", u)
		}
		if stamp := restartStamp(t, "cniup-app", "web"); stamp != "" {
			return fmt.Errorf("web restarted (%s) while the old plugin runs", stamp)
		}
		return nil
	}
	eventually(t, "the control-plane step waits for the CNI plugin", waiting)
	for range 5 { // and keeps waiting, Deployments available or not
		time.Sleep(time.Second)
		if err := waiting(); err != nil {
			t.Fatal(err)
		}
	}
	if got := getInstallation(t, name).Status.InstalledVersion; got != "0.2.0" {
		t.Fatalf("installed %s: the gate should wait on the new release", got)
	}

	setDaemonSetStatus(t, ns, 1, 1, 1, true)
	rec := driveUpgrade(t, name, ns)
	if rec.Result != "Succeeded" || rec.From != "0.1.0" || rec.To != "0.2.0" {
		t.Fatalf("history %+v", rec)
	}
	if restartStamp(t, "cniup-app", "web") == "" {
		t.Fatal("web was not restarted by the upgrade")
	}
}

// Switching spec.dataPlane.redirect is a staged upgrade at the same version:
// the control plane moves to CNI (gated on the plugin's DaemonSet), then the
// waves restart the workloads whose pods run the old mode. A pass without a
// change restarts nothing.
func TestRedirectSwitchRollsWorkloadsInWaves(t *testing.T) {
	const name, ns, app = "cniswitch", "mk-cniswitch", "cniswitch-app"
	installReady(t, name, ns)
	meshedDeployment(t, app, "web")
	removeApp(t, app)
	unchanged := func() error {
		mi := getInstallationNoFail(name)
		if mi.Status.Upgrade != nil || restartStamp(t, app, "web") != "" || mi.Status.Redirect != meshv1.RedirectInitContainer {
			return fmt.Errorf("upgrade %+v, redirect %q, web stamp %q", mi.Status.Upgrade, mi.Status.Redirect, restartStamp(t, app, "web"))
		}
		return nil
	}
	eventually(t, "InitContainer recorded, nothing restarted", unchanged)
	for range 3 { // passes without a change do nothing
		time.Sleep(time.Second)
		if err := unchanged(); err != nil {
			t.Fatal(err)
		}
	}

	mi := getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.DataPlane.Redirect, mi.Spec.Upgrade = meshv1.RedirectCNI, &meshv1.UpgradeSpec{Gate: shortGate()}
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a mode switch recorded, waiting for the plugin", func() error {
		markDeploymentsAvailableOnce(t, ns)
		mi := getInstallationNoFail(name)
		u := mi.Status.Upgrade
		if u == nil || u.From != "0.1.0" || u.To != "0.1.0" || u.RedirectFrom != meshv1.RedirectInitContainer || u.RedirectTo != meshv1.RedirectCNI ||
			u.Phase != "ControlPlane" || !strings.Contains(u.Message, "CNI plugin") || mi.Status.Redirect != meshv1.RedirectCNI {
			return fmt.Errorf("redirect %q, upgrade %+v", mi.Status.Redirect, u)
		}
		if c := findCondition(mi, meshv1.ConditionReconciling); !strings.Contains(c.Message, "redirect") && !strings.Contains(c.Message, "CNI") {
			return fmt.Errorf("Reconciling says %q", c.Message)
		}
		if restartStamp(t, app, "web") != "" {
			return fmt.Errorf("web restarted before the plugin runs")
		}
		return nil
	})
	cniDaemonSet(t, name, ns)
	setDaemonSetStatus(t, ns, 1, 1, 1, true)
	pluginPod(t, ns, "node-a", true)
	rec := driveUpgrade(t, name, ns)
	if rec.Result != "Succeeded" || rec.RedirectFrom != meshv1.RedirectInitContainer || rec.RedirectTo != meshv1.RedirectCNI {
		t.Fatalf("history %+v", rec)
	}
	stamp := restartStamp(t, app, "web")
	if stamp == "" {
		t.Fatal("web was not restarted by the switch")
	}
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(app)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Annotations[contract.CNIRedirectAnnotation] == "" {
			t.Fatalf("pod %s still runs in InitContainer mode", p.Name)
		}
	}
	eventually(t, "Ready in CNI mode", conditionIs(name, meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
	for range 3 { // and a pass without a change restarts nothing more
		time.Sleep(time.Second)
		if got := restartStamp(t, app, "web"); got != stamp {
			t.Fatalf("web restarted again (%s → %s)", stamp, got)
		}
	}
}

// A rollback in CNI mode waits for the plugin's DaemonSet too: the control
// plane is back at the old release, but no workload is restarted back
// before every node runs the plugin again.
func TestRollbackWaitsForTheCNIDaemonSetRollout(t *testing.T) {
	const name, ns, app = "cnirb", "mk-cnirb", "cnirb-app"
	readyCNIInstallation(t, name, ns)
	meshedDeployment(t, app, "api")
	removeApp(t, app)
	proxies.failVersion(app, "0.2.0", 0.5)
	defer proxies.failVersion(app, "0.2.0", 0)
	bumpVersion(t, name, "0.2.0", &meshv1.UpgradeSpec{Gate: shortGate()})

	eventually(t, "past the control-plane step", func() error {
		markDeploymentsAvailableOnce(t, ns)
		_ = daemonSetStatus(ns, 1, 1, 1, true) // the chart's new template rolled out (the next poll retries a conflict)
		rollRestartedPods(t, name)
		if u := getInstallationNoFail(name).Status.Upgrade; u == nil || (u.Phase != "Wave" && u.Phase != "RollingBack") {
			return fmt.Errorf("upgrade %+v", u)
		}
		return nil
	})
	// The DaemonSet now rolls its template back: the node does not run the
	// current template (a chart that renders the DaemonSet also bumps its
	// generation, which the gate sees as not observed yet).
	setDaemonSetStatus(t, ns, 1, 0, 1, true)
	waiting := func() error {
		markDeploymentsAvailableOnce(t, ns)
		rollRestartedPods(t, name)
		mi := getInstallationNoFail(name)
		u := mi.Status.Upgrade
		if u == nil || u.Phase != "RollingBack" || u.Step != "control-plane" || !strings.Contains(u.Message, "CNI plugin") {
			return fmt.Errorf("upgrade %+v", u)
		}
		if mi.Status.InstalledVersion != "0.1.0" {
			return fmt.Errorf("installed %s", mi.Status.InstalledVersion)
		}
		return nil
	}
	eventually(t, "the rollback waits for the plugin at the old release", waiting)
	for range 3 {
		time.Sleep(time.Second)
		if err := waiting(); err != nil {
			t.Fatal(err)
		}
	}
	setDaemonSetStatus(t, ns, 1, 1, 1, true)
	if rec := driveUpgrade(t, name, ns); rec.Result != "RolledBack" {
		t.Fatalf("history %+v, want a rollback", rec)
	}
}

// readyCNIInstallation creates an installation in CNI mode whose plugin runs
// on its one node, and waits until it is Ready.
func readyCNIInstallation(t *testing.T, name, ns string) {
	t.Helper()
	if err := createInstallation(t, cniInstallation(name, ns)); err != nil {
		t.Fatal(err)
	}
	cniDaemonSet(t, name, ns)
	setDaemonSetStatus(t, ns, 1, 1, 1, true)
	pluginPod(t, ns, "node-a", true)
	markDeploymentsAvailable(t, ns)
	eventually(t, "Ready", conditionIs(name, meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
}
