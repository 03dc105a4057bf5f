package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

// rollRestartedPods plays the Deployment controller and the injector for the
// meshed Deployments: a pod whose template restart stamp differs from its own
// is replaced by one carrying the stamp and the proxy of the installed mesh.
func rollRestartedPods(t *testing.T, installation string) {
	t.Helper()
	ctx := context.Background()
	mi := getInstallation(t, installation)
	installed := mi.Status.InstalledVersion
	rel, err := versions.Lookup(installed)
	if err != nil {
		return
	}
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.HasLabels{contract.ProxyVersionLabel}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "ReplicaSet" || p.DeletionTimestamp != nil {
			continue
		}
		var dep appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: strings.TrimSuffix(ref.Name, "-rs")}, &dep); err != nil {
			continue
		}
		stamp := dep.Spec.Template.Annotations[contract.RestartedAtAnnotation]
		if stamp == "" || p.Annotations[contract.RestartedAtAnnotation] == stamp {
			continue
		}
		if err := k8s.Delete(ctx, &p, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		annotations := map[string]string{contract.RestartedAtAnnotation: stamp}
		if mi.Status.Redirect == meshv1.RedirectCNI { // the injector's mark of CNI mode
			annotations[contract.CNIRedirectAnnotation] = "15001 15006"
		}
		next := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: dep.Name + "-" + strings.NewReplacer(":", "", "-", "").Replace(stamp[11:19]) + "-" + strings.ReplaceAll(rel.ProxyVersion, ".", ""),
			Labels:          map[string]string{"app": dep.Name, contract.ProxyVersionLabel: rel.ProxyVersion},
			Annotations:     annotations,
			OwnerReferences: p.OwnerReferences}, Spec: injected(corev1.PodSpec{Containers: p.Spec.Containers})}
		if err := k8s.Create(ctx, next); err != nil {
			t.Fatal(err)
		}
		next.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.10.78",
			Conditions:            []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: contract.ProxyContainerName, Ready: true}}}
		if err := k8s.Status().Update(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
}

// shortGate bakes for two seconds and judges on ten requests: enough for the
// simulated proxies, short enough for envtest.
func shortGate() *meshv1.GateSpec {
	return &meshv1.GateSpec{BakeWindow: &metav1.Duration{Duration: 2e9}, MinRequests: ptr.To[int64](10)}
}

func bumpVersion(t *testing.T, name, version string, up *meshv1.UpgradeSpec) {
	t.Helper()
	mi := getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.Version, mi.Spec.Upgrade = version, up
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
}

// driveUpgrade plays the cluster (Deployments available, pods rolled) until
// the upgrade history records a result.
func driveUpgrade(t *testing.T, name, ns string) meshv1.UpgradeRecord {
	t.Helper()
	var rec meshv1.UpgradeRecord
	eventually(t, "upgrade finished", func() error {
		markDeploymentsAvailableOnce(t, ns)
		rollRestartedPods(t, name)
		mi := getInstallation(t, name)
		if len(mi.Status.UpgradeHistory) == 0 {
			if u := mi.Status.Upgrade; u != nil {
				return fmt.Errorf("upgrade %s %s wave %d: %s", u.Phase, u.Step, u.CurrentWave, u.Message)
			}
			return fmt.Errorf("no upgrade yet")
		}
		rec = mi.Status.UpgradeHistory[0]
		return nil
	})
	return rec
}

func TestUpgradeRunsThePlanWaveByWaveAndCompletes(t *testing.T) {
	installReady(t, "upgrade", "mk-upgrade")
	meshedDeployment(t, "up-app", "web")
	gate := shortGate()
	bumpVersion(t, "upgrade", "0.2.0", &meshv1.UpgradeSpec{Gate: gate})

	eventually(t, "plan published", func() error {
		u := getInstallation(t, "upgrade").Status.Upgrade
		if u == nil || len(u.Plan) == 0 || u.From != "0.1.0" || u.To != "0.2.0" {
			return fmt.Errorf("upgrade status %+v", u)
		}
		return nil
	})
	rec := driveUpgrade(t, "upgrade", "mk-upgrade")
	if rec.Result != "Succeeded" || rec.From != "0.1.0" || rec.To != "0.2.0" {
		t.Fatalf("history %+v", rec)
	}
	mi := getInstallation(t, "upgrade")
	if mi.Status.InstalledVersion != "0.2.0" {
		t.Fatalf("installed %s", mi.Status.InstalledVersion)
	}
	if v := mi.Status.Upgrade.LastVerdict; v == nil || !v.Passed || v.Requests < 10 || v.SuccessRate == "" {
		t.Fatalf("last verdict should pass with measured values: %+v", v)
	}
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace("up-app")); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Labels[contract.ProxyVersionLabel] != "0.2.0" {
			t.Fatalf("pod %s still runs proxy %s", p.Name, p.Labels[contract.ProxyVersionLabel])
		}
	}
}

func TestFailingGateRollsBackAutomatically(t *testing.T) {
	installReady(t, "faulty", "mk-faulty")
	meshedDeployment(t, "faulty-app", "api")
	proxies.failVersion("faulty-app", "0.2.0", 0.5)
	defer proxies.failVersion("faulty-app", "0.2.0", 0)
	gate := shortGate()
	bumpVersion(t, "faulty", "0.2.0", &meshv1.UpgradeSpec{Gate: gate})

	rec := driveUpgrade(t, "faulty", "mk-faulty")
	if rec.Result != "RolledBack" {
		t.Fatalf("history %+v, want a rollback", rec)
	}
	eventually(t, "control plane back at 0.1.0 and Degraded with the gate's numbers", func() error {
		markDeploymentsAvailableOnce(t, "mk-faulty")
		rollRestartedPods(t, "faulty")
		mi := getInstallation(t, "faulty")
		if mi.Status.InstalledVersion != "0.1.0" {
			return fmt.Errorf("installed %s", mi.Status.InstalledVersion)
		}
		c := findCondition(mi, meshv1.ConditionDegraded)
		if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "success rate 0.5") || !strings.Contains(c.Message, "wave/") {
			return fmt.Errorf("Degraded %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	v := getInstallation(t, "faulty").Status.Upgrade.LastVerdict
	if v == nil || v.Passed || v.Reason != "SuccessRateTooLow" {
		t.Fatalf("verdict %+v", v)
	}
	// The user has to act: kstatus must not read this as Current.
	eventually(t, "Stalled RolledBack", conditionIs("faulty", meshv1.ConditionStalled, metav1.ConditionTrue, "RolledBack"))
	eventually(t, "kstatus Failed", kstatusIs("faulty", kstatus.FailedStatus))
}

func TestUnsupportedBumpIsRefusedAndChangesNothing(t *testing.T) {
	installReady(t, "refuse", "mk-refuse")
	before, _ := latestRevision(t, "mk-refuse")
	bumpVersion(t, "refuse", "0.9.0", nil)
	eventually(t, "refused in a condition", conditionIs("refuse", meshv1.ConditionStalled, metav1.ConditionTrue, ""))
	mi := getInstallation(t, "refuse")
	c := findCondition(mi, meshv1.ConditionStalled)
	if !strings.Contains(c.Message, "0.9.0") {
		t.Fatalf("refusal should name the version: %+v", c)
	}
	if after, _ := latestRevision(t, "mk-refuse"); after != before || mi.Status.InstalledVersion != "0.1.0" {
		t.Fatalf("a refused bump changed the release (revision %d -> %d, installed %s)", before, after, mi.Status.InstalledVersion)
	}
}

func TestManualApprovalWaitsWithThePlan(t *testing.T) {
	installReady(t, "manual", "mk-manual")
	before, _ := latestRevision(t, "mk-manual")
	gate := shortGate()
	bumpVersion(t, "manual", "0.2.0", &meshv1.UpgradeSpec{Approval: meshv1.ApprovalManual, Gate: gate})
	eventually(t, "awaiting approval", func() error {
		u := getInstallation(t, "manual").Status.Upgrade
		if u == nil || u.Phase != "AwaitingApproval" || len(u.Plan) == 0 {
			return fmt.Errorf("upgrade %+v", u)
		}
		return nil
	})
	if after, _ := latestRevision(t, "mk-manual"); after != before {
		t.Fatal("the control plane moved before approval")
	}
	mi := getInstallation(t, "manual")
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.Upgrade.ApprovedVersion = "0.2.0"
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
	if rec := driveUpgrade(t, "manual", "mk-manual"); rec.Result != "Succeeded" {
		t.Fatalf("approved upgrade: %+v", rec)
	}
}

func TestPausingMidUpgradeStopsTheStepClock(t *testing.T) {
	installReady(t, "pausing", "mk-pausing")
	gate := &meshv1.GateSpec{BakeWindow: &metav1.Duration{Duration: 10e9}, MinRequests: ptr.To[int64](10)}
	bumpVersion(t, "pausing", "0.2.0", &meshv1.UpgradeSpec{Gate: gate})
	eventually(t, "upgrade under way", func() error {
		markDeploymentsAvailableOnce(t, "mk-pausing")
		if u := getInstallation(t, "pausing").Status.Upgrade; u == nil || u.Phase != "ControlPlane" {
			return fmt.Errorf("upgrade %+v", u)
		}
		return nil
	})
	pause(t, "pausing", true)
	eventually(t, "paused upgrade recorded without a running step clock", func() error {
		u := getInstallation(t, "pausing").Status.Upgrade
		if u == nil || !u.StepStartedAt.IsZero() || !strings.Contains(u.Message, "paused by spec.paused") {
			return fmt.Errorf("upgrade %+v", u)
		}
		return nil
	})
	pause(t, "pausing", false)
	if rec := driveUpgrade(t, "pausing", "mk-pausing"); rec.Result != "Succeeded" {
		t.Fatalf("resumed upgrade: %+v", rec)
	}
}

// TestPodRestartedWithoutProxyIsEvicted: the injector failed open for the pod
// a restart created, so it runs without a proxy. Restarting again would not
// replace it (it already carries the stamp): the upgrade evicts it, and
// completes once its controller brings it back meshed.
func TestPodRestartedWithoutProxyIsEvicted(t *testing.T) {
	ctx := context.Background()
	installReady(t, "failopen", "mk-failopen")
	meshedDeployment(t, "failopen-app", "web")
	gate := shortGate()
	bumpVersion(t, "failopen", "0.2.0", &meshv1.UpgradeSpec{Gate: gate})

	// Play the ReplicaSet controller: each new pod carries the template's stamp.
	replace := func(name string, old *corev1.Pod, proxy string) *corev1.Pod {
		t.Helper()
		labels := map[string]string{"app": "web"}
		if proxy != "" {
			labels[contract.ProxyVersionLabel] = proxy
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: old.Namespace, Name: name, Labels: labels,
			Annotations: map[string]string{contract.RestartedAtAnnotation: old.Annotations[contract.RestartedAtAnnotation]}, OwnerReferences: old.OwnerReferences},
			Spec: corev1.PodSpec{Containers: old.Spec.Containers}}
		if proxy != "" {
			p.Spec = injected(p.Spec)
		}
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.10.79",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if err := k8s.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var unmeshed *corev1.Pod
	eventually(t, "workload restarted", func() error {
		markDeploymentsAvailableOnce(t, "mk-failopen")
		var dep appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "failopen-app", Name: "web"}, &dep); err != nil {
			return err
		}
		stamp := dep.Spec.Template.Annotations[contract.RestartedAtAnnotation]
		if stamp == "" {
			return fmt.Errorf("web not restarted yet")
		}
		var old corev1.Pod
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "failopen-app", Name: "web-pod"}, &old); err != nil {
			return err
		}
		if err := k8s.Delete(ctx, &old, client.GracePeriodSeconds(0)); err != nil {
			return err
		}
		old.Annotations = map[string]string{contract.RestartedAtAnnotation: stamp}
		unmeshed = replace("web-unmeshed", &old, "") // the injector failed open
		return nil
	})
	eventually(t, "unmeshed pod evicted", func() error {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(unmeshed), &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("pod %s still there: %v; upgrade: %s", unmeshed.Name, err, getInstallation(t, "failopen").Status.Upgrade.Message)
	})
	rel, err := versions.Lookup("0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	replace("web-meshed", unmeshed, rel.ProxyVersion) // created anew; the injector answers
	if rec := driveUpgrade(t, "failopen", "mk-failopen"); rec.Result != "Succeeded" {
		t.Fatalf("history %+v", rec)
	}
}

// TestInjectorNotAnsweringHoldsTheControlPlaneGate: with the control plane
// available but the injector not answering admission, no workload is
// restarted (its pods would come up without a proxy) until it answers.
func TestInjectorNotAnsweringHoldsTheControlPlaneGate(t *testing.T) {
	ctx := context.Background()
	installReady(t, "noinject", "mk-noinject")
	meshedDeployment(t, "noinject-app", "web")
	injector.fail("injector did not answer: simulated")
	defer injector.fail("")
	gate := shortGate()
	bumpVersion(t, "noinject", "0.2.0", &meshv1.UpgradeSpec{Gate: gate})

	eventually(t, "control-plane gate held on the injector", func() error {
		markDeploymentsAvailableOnce(t, "mk-noinject")
		u := getInstallation(t, "noinject").Status.Upgrade
		if u == nil || u.Phase != "ControlPlane" || !strings.Contains(u.Message, "injector did not answer") {
			return fmt.Errorf("upgrade %+v", u)
		}
		return nil
	})
	var dep appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "noinject-app", Name: "web"}, &dep); err != nil {
		t.Fatal(err)
	}
	if stamp := dep.Spec.Template.Annotations[contract.RestartedAtAnnotation]; stamp != "" {
		t.Fatalf("web restarted (%s) while the injector did not answer", stamp)
	}
	injector.fail("")
	if rec := driveUpgrade(t, "noinject", "mk-noinject"); rec.Result != "Succeeded" {
		t.Fatalf("history %+v", rec)
	}
}
