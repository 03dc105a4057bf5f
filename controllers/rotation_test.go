package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// meshedDeployment creates a Deployment with one ReplicaSet and one running,
// meshed pod, wired with owner references as the controllers would.
func meshedDeployment(t *testing.T, ns, name string) types.NamespacedName {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
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
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-pod",
		Labels:          map[string]string{"app": name, contract.ProxyVersionLabel: "0.1.0"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: injected(dep.Spec.Template.Spec)}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.10.77",
		InitContainerStatuses: []corev1.ContainerStatus{{Name: contract.ProxyContainerName, Ready: true}}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	return types.NamespacedName{Namespace: ns, Name: pod.Name}
}

// injected is a pod spec as the injector returns it: the proxy runs as a
// native sidecar (an init container that keeps running).
func injected(spec corev1.PodSpec) corev1.PodSpec {
	spec = *spec.DeepCopy()
	spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: contract.ProxyContainerName, Image: "proxy:1",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
	return spec
}

func annotate(t *testing.T, name, key, value string) {
	t.Helper()
	mi := getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	if mi.Annotations == nil {
		mi.Annotations = map[string]string{}
	}
	mi.Annotations[key] = value
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
}

func rotationDone(name, oldAnchor string) func() error {
	return func() error {
		mi := &meshv1.MeshInstallation{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, mi); err != nil {
			return err
		}
		ts := mi.Status.Trust
		if ts.Rotation != nil {
			return fmt.Errorf("rotation in phase %s: %s", ts.Rotation.Phase, ts.Rotation.Message)
		}
		if ts.LastRotation == nil || ts.LastRotation.OldAnchor != oldAnchor {
			return fmt.Errorf("no completed rotation from %s yet (last %+v)", oldAnchor[:12], ts.LastRotation)
		}
		return nil
	}
}

// assertRotatedTo checks the stored objects after a rotation to newAnchor.
func assertRotatedTo(t *testing.T, ns, newAnchor, appNS string) {
	t.Helper()
	ctx := context.Background()
	anchor := secretKeyPair(t, ns, trust.AnchorSecret)
	if pki.Fingerprint(anchor.Cert) != newAnchor {
		t.Fatalf("active anchor is %s, want the new %s", pki.Fingerprint(anchor.Cert)[:12], newAnchor[:12])
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: trust.NextAnchorSecret}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pending anchor Secret left after promotion: %v", err)
	}
	issuer := secretKeyPair(t, ns, trust.IssuerSecret)
	if err := pki.VerifyIssuedBy(issuer.Cert, anchor.Cert, time.Now()); err != nil {
		t.Fatalf("issuer not signed by the new anchor: %v", err)
	}
	for _, n := range []string{ns, appNS} {
		var cm corev1.ConfigMap
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: n, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
			t.Fatal(err)
		}
		certs, _ := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
		if len(certs) != 1 || pki.Fingerprint(certs[0]) != newAnchor {
			t.Fatalf("bundle in %s holds %d anchors, want only the new one", n, len(certs))
		}
	}
}

func TestRequestedRotationWalksThePhasesAndCompletes(t *testing.T) {
	mi := installReady(t, "rotate", "mk-rotate")
	old := mi.Status.Trust.Anchor.Fingerprint
	meshedDeployment(t, "rot-app", "web")
	annotate(t, "rotate", meshv1.RotateAnchorAnnotation, "compromised-1")

	seen := map[string]bool{}
	eventually(t, "rotation completed", func() error {
		if r := getInstallation(t, "rotate").Status.Trust.Rotation; r != nil {
			seen[r.Phase] = true
			if r.OldAnchor != old {
				return fmt.Errorf("rotation from %s, want %s", r.OldAnchor, old)
			}
		}
		return rotationDone("rotate", old)()
	})
	got := getInstallation(t, "rotate").Status.Trust
	if got.LastRotation.Trigger != meshv1.TriggerRequested || got.HandledRotateRequest != "compromised-1" {
		t.Fatalf("last rotation %+v, handled %q", got.LastRotation, got.HandledRotateRequest)
	}
	if got.Anchor.Fingerprint != got.LastRotation.NewAnchor || got.NextRotation == nil {
		t.Fatalf("status anchor %s, rotated to %s, next rotation %v", got.Anchor.Fingerprint, got.LastRotation.NewAnchor, got.NextRotation)
	}
	assertRotatedTo(t, "mk-rotate", got.LastRotation.NewAnchor, "rot-app")
	t.Logf("phases observed in status: %v", seen)

	// The same request value is not acted on twice.
	if err := func() error {
		for i := 0; i < 5; i++ {
			if _, err := reconciler.Reconcile(context.Background(), reqFor("rotate")); err != nil {
				return err
			}
		}
		return nil
	}(); err != nil {
		t.Fatal(err)
	}
	if r := getInstallation(t, "rotate").Status.Trust; r.Rotation != nil || r.LastRotation.NewAnchor != got.LastRotation.NewAnchor {
		t.Fatal("a handled rotation request started another rotation")
	}
}

func TestRotationWaitsForALaggingProxyThenRestartsItsWorkload(t *testing.T) {
	mi := installReady(t, "laggard", "mk-laggard")
	old := mi.Status.Trust.Anchor.Fingerprint
	mi = getInstallation(t, "laggard")
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.Trust.Rotation = &meshv1.RotationSpec{ConvergenceTimeout: &metav1.Duration{Duration: 3 * time.Second}}
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
	pod := meshedDeployment(t, "lag-app", "slow")
	proxies.Scrape(context.Background(), []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}})
	proxies.freeze(pod, true)
	annotate(t, "laggard", meshv1.RotateAnchorAnnotation, "now")

	eventually(t, "rotation waits on the frozen proxy and names it", func() error {
		r := getInstallation(t, "laggard").Status.Trust.Rotation
		// Other tests' meshed pods share this API server and converge; only the frozen one lags.
		if r == nil || r.Phase != "AwaitBundle" || r.Converged != r.Total-1 || len(r.Lagging) != 1 || r.Lagging[0] != pod.String() {
			return fmt.Errorf("rotation status %+v", r)
		}
		return nil
	})
	eventually(t, "lagging workload restarted after the deadline", func() error {
		var dep appsv1.Deployment
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "lag-app", Name: "slow"}, &dep); err != nil {
			return err
		}
		if dep.Spec.Template.Annotations[contract.RestartedAtAnnotation] == "" {
			return fmt.Errorf("not restarted yet")
		}
		r := getInstallation(t, "laggard").Status.Trust.Rotation
		if r == nil || len(r.Restarted) != 1 || r.Restarted[0] != "Deployment/lag-app/slow" {
			return fmt.Errorf("restart not recorded: %+v", r)
		}
		return nil
	})
	// The restarted pod comes back with the current bundle.
	proxies.freeze(pod, false)
	eventually(t, "rotation completed", rotationDone("laggard", old))
	assertRotatedTo(t, "mk-laggard", getInstallation(t, "laggard").Status.Trust.LastRotation.NewAnchor, "lag-app")
}

func TestRotationResumesFromAPendingAnchorLeftByACrash(t *testing.T) {
	ctx := context.Background()
	mi := installReady(t, "resume", "mk-resume")
	old := mi.Status.Trust.Anchor.Fingerprint
	pause(t, "resume", true)
	// The operator died right after storing the new anchor, before recording it anywhere else.
	pending, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: "cluster.local", Now: time.Now(), Validity: 8760 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mk-resume", Name: trust.NextAnchorSecret},
		Data: map[string][]byte{"tls.crt": pending.CertPEM, "tls.key": pending.KeyPEM}}); err != nil {
		t.Fatal(err)
	}
	pause(t, "resume", false)
	eventually(t, "rotation completed", rotationDone("resume", old))
	got := getInstallation(t, "resume").Status.Trust.LastRotation
	if got.NewAnchor != pki.Fingerprint(pending.Cert) {
		t.Fatalf("rotated to %s, want the pending anchor %s: a second anchor was generated", got.NewAnchor[:12], pki.Fingerprint(pending.Cert)[:12])
	}
	assertRotatedTo(t, "mk-resume", got.NewAnchor, "mk-resume")
}

func reqFor(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}
}
