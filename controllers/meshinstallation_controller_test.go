package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// installReady creates an installation and drives it to Ready.
func installReady(t *testing.T, name, ns string) *meshv1.MeshInstallation {
	t.Helper()
	return installReadyFrom(t, newInstallation(name, ns))
}

// installReadyFrom is installReady for an installation with a spec of the test's.
func installReadyFrom(t *testing.T, mi *meshv1.MeshInstallation) *meshv1.MeshInstallation {
	t.Helper()
	name, ns := mi.Name, mi.Spec.ControlPlane.Namespace
	if err := createInstallation(t, mi); err != nil {
		t.Fatal(err)
	}
	eventually(t, "release revision 1 deployed", func() error {
		if v, st := latestRevision(t, ns); v != 1 || st != "deployed" {
			return fmt.Errorf("latest revision %d %q", v, st)
		}
		return nil
	})
	eventually(t, "not ready before Deployments are available", conditionIs(name, meshv1.ConditionControlPlaneReady, metav1.ConditionFalse, meshv1.ReasonDeploymentsNotReady))
	eventually(t, "kstatus InProgress while installing", kstatusIs(name, kstatus.InProgressStatus))
	markDeploymentsAvailable(t, ns)
	eventually(t, "Ready", conditionIs(name, meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
	eventually(t, "kstatus Current", kstatusIs(name, kstatus.CurrentStatus))
	return getInstallation(t, name)
}

func TestInstallReportsTrustAndReadiness(t *testing.T) {
	ctx := context.Background()
	mi := installReady(t, "install", "mk-install")
	st := mi.Status
	if st.InstalledVersion != "0.1.0" || st.ControlPlane.ReleaseRevision != 1 || st.ObservedGeneration != mi.Generation {
		t.Fatalf("status: %+v", st)
	}
	if st.ControlPlane.ReadyReplicas != 2 || st.ControlPlane.DesiredReplicas != 2 {
		t.Errorf("replicas %d/%d, want 2/2 (identity + injector)", st.ControlPlane.ReadyReplicas, st.ControlPlane.DesiredReplicas)
	}
	if st.CNIPlugin != nil {
		t.Errorf("status.cniPlugin %+v in InitContainer mode", st.CNIPlugin)
	}
	if len(st.SupportedVersions) == 0 || st.SupportedVersions[0] != "0.1.0" {
		t.Errorf("supported versions %v", st.SupportedVersions)
	}
	// Status fingerprints are those of the stored anchor and issuer, and the issuer chains to the anchor.
	anchor := secretKeyPair(t, "mk-install", trust.AnchorSecret)
	issuer := secretKeyPair(t, "mk-install", trust.IssuerSecret)
	if st.Trust.Anchor.Fingerprint != pki.Fingerprint(anchor.Cert) || st.Trust.Issuer.Fingerprint != pki.Fingerprint(issuer.Cert) {
		t.Fatalf("status fingerprints do not match the stored certificates")
	}
	if !st.Trust.Anchor.NotAfter.Time.Equal(anchor.Cert.NotAfter) || st.Trust.Anchor.Source != meshv1.SourceGenerated {
		t.Errorf("anchor status %+v", st.Trust.Anchor)
	}
	if err := pki.VerifyIssuedBy(issuer.Cert, anchor.Cert, anchor.Cert.NotBefore.Add(3600e9)); err != nil {
		t.Fatalf("issuer does not chain to anchor: %v", err)
	}
	// The bundle is published in other namespaces too, and holds the anchor only (never a key).
	eventually(t, "bundle in default namespace", func() error {
		var cm corev1.ConfigMap
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: contract.TrustRootsConfigMap}, &cm); err != nil {
			return err
		}
		certs, err := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
		if err != nil || len(certs) != 1 || pki.Fingerprint(certs[0]) != st.Trust.Anchor.Fingerprint {
			return fmt.Errorf("bundle %v %d", err, len(certs))
		}
		if strings.Contains(cm.Data[contract.TrustRootsKey], "PRIVATE KEY") {
			return fmt.Errorf("bundle contains a private key")
		}
		return nil
	})
	// Every rendered Deployment is traceable to its installation.
	var dep appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-install", Name: "meshkeeper-identity"}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Labels[contract.InstallationLabel] != "install" || len(dep.OwnerReferences) != 1 || dep.OwnerReferences[0].UID != mi.UID {
		t.Fatalf("identity Deployment not traceable: labels %v owners %v", dep.Labels, dep.OwnerReferences)
	}
}

func TestUnchangedReconcilesKeepTheRevision(t *testing.T) {
	ctx := context.Background()
	installReady(t, "steady", "mk-steady")
	var before appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-steady", Name: "meshkeeper-injector"}, &before); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := reconciler.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: "steady"}}); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
	}
	if v, st := latestRevision(t, "mk-steady"); v != 1 || st != "deployed" {
		t.Fatalf("after 20 reconciles the release is at revision %d (%s), want 1", v, st)
	}
	var after appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-steady", Name: "meshkeeper-injector"}, &after); err != nil {
		t.Fatal(err)
	}
	if before.ResourceVersion != after.ResourceVersion {
		t.Errorf("an unchanged control plane was written to (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	ctx := context.Background()
	installReady(t, "drift", "mk-drift")
	identity := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "mk-drift", Name: "meshkeeper-identity"}}
	if err := k8s.Delete(ctx, identity); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted identity Deployment recreated", func() error {
		return k8s.Get(ctx, client.ObjectKeyFromObject(identity), &appsv1.Deployment{})
	})
	var injector appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-drift", Name: "meshkeeper-injector"}, &injector); err != nil {
		t.Fatal(err)
	}
	injector.Spec.Replicas = ptr.To[int32](0)
	injector.Spec.Template.Spec.Containers[0].Image = "example.invalid/evil:1"
	if err := k8s.Update(ctx, &injector); err != nil {
		t.Fatal(err)
	}
	eventually(t, "edited injector Deployment restored", func() error {
		var d appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(&injector), &d); err != nil {
			return err
		}
		if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Image != "ghcr.io/meshkeeper/controlplane:0.1.0" {
			return fmt.Errorf("replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		}
		return nil
	})
	if v, _ := latestRevision(t, "mk-drift"); v != 1 {
		t.Errorf("drift repair created Helm revision %d, want none (still 1)", v)
	}
}

func TestUnsupportedVersionStallsAndInstallsNothing(t *testing.T) {
	ctx := context.Background()
	mi := newInstallation("badversion", "mk-badversion")
	mi.Spec.Version = "9.9.9"
	if err := createInstallation(t, mi); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Stalled UnsupportedVersion", conditionIs("badversion", meshv1.ConditionStalled, metav1.ConditionTrue, meshv1.ReasonUnsupportedVersion))
	got := getInstallation(t, "badversion")
	c := findCondition(got, meshv1.ConditionStalled)
	if !strings.Contains(c.Message, "9.9.9") || !strings.Contains(c.Message, "0.1.0") {
		t.Errorf("message should name the version and the supported ones: %q", c.Message)
	}
	if v, _ := latestRevision(t, "mk-badversion"); v != 0 {
		t.Fatalf("a release was installed for an unsupported version")
	}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "mk-badversion"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace created for an unsupported version: %v", err)
	}
}

func TestInvalidValuesStallWithoutARelease(t *testing.T) {
	ctx := context.Background()
	mi := newInstallation("badvalues", "mk-badvalues")
	mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{"identity": {"leafTTL": "forever"}}`)}
	if err := createInstallation(t, mi); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Stalled InvalidValues", conditionIs("badvalues", meshv1.ConditionStalled, metav1.ConditionTrue, meshv1.ReasonInvalidValues))
	if v, _ := latestRevision(t, "mk-badvalues"); v != 0 {
		t.Fatalf("a release was left behind by values that do not render")
	}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "mk-badvalues"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Fatalf("values that do not render still created the control-plane namespace: %v", err)
	}
	c := findCondition(getInstallation(t, "badvalues"), meshv1.ConditionStalled)
	if !strings.Contains(c.Message, "leafTTL") {
		t.Errorf("the message should point at the bad value: %q", c.Message)
	}
}

func TestInvalidUserAnchorStalls(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mk-badanchor"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	anchor, _ := pki.GenerateAnchor(pki.AnchorRequest{Now: metav1.Now().Time, Validity: 3600e9})
	leaf, _ := pki.GenerateServing(pki.ServingRequest{CA: anchor, DNSNames: []string{"not-a-ca"}, Now: metav1.Now().Time, Validity: 3600e9})
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mk-badanchor", Name: "my-anchor"},
		Data: map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM}}
	if err := k8s.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	mi := newInstallation("badanchor", "mk-badanchor")
	mi.Spec.Trust.AnchorSecretRef = &meshv1.SecretReference{Name: "my-anchor"}
	if err := createInstallation(t, mi); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TrustReady False InvalidAnchor", conditionIs("badanchor", meshv1.ConditionTrustReady, metav1.ConditionFalse, meshv1.ReasonInvalidAnchor))
	eventually(t, "Stalled InvalidAnchor", conditionIs("badanchor", meshv1.ConditionStalled, metav1.ConditionTrue, meshv1.ReasonInvalidAnchor))
	if v, _ := latestRevision(t, "mk-badanchor"); v != 0 {
		t.Fatal("control plane installed with an invalid anchor")
	}
	var kept corev1.Secret
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(s), &kept); err != nil || string(kept.Data["tls.crt"]) != string(leaf.CertPEM) {
		t.Fatalf("the user's Secret was changed or removed: %v", err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-badanchor", Name: trust.IssuerSecret}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("an issuer was created from an invalid anchor: %v", err)
	}
}

func TestDeleteUninstallsAndLeavesWorkloads(t *testing.T) {
	ctx := context.Background()
	installReady(t, "deleteme", "mk-delete")
	userNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "user-app"}}
	if err := k8s.Create(ctx, userNS); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	user := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "user-app", Name: "shop"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shop"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shop", Image: "shop:1"}}},
			},
		},
	}
	if err := k8s.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: "deleteme"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "installation gone with its finalizer", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Name: "deleteme"}, &meshv1.MeshInstallation{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still present: %v", err)
	})
	if revs := releaseRevisions(t, "mk-delete"); len(revs) != 0 {
		t.Fatalf("release history left: %d revisions", len(revs))
	}
	for _, name := range []string{trust.AnchorSecret, trust.IssuerSecret, trust.InjectorTLSSecret} {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-delete", Name: name}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("secret %s left behind: %v", name, err)
		}
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-delete", Name: "meshkeeper-identity"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("identity Deployment left behind: %v", err)
	}
	var still appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(user), &still); err != nil || still.DeletionTimestamp != nil {
		t.Fatalf("user Deployment touched: %v", err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "user-app"}, &corev1.Namespace{}); err != nil {
		t.Fatalf("user namespace touched: %v", err)
	}
}

func TestPendingInstallLeftByACrashIsRecovered(t *testing.T) {
	installReady(t, "crash", "mk-crash")
	pause(t, "crash", true)
	revs := releaseRevisions(t, "mk-crash")
	setReleaseStatus(t, revs[len(revs)-1], "pending-install")
	pause(t, "crash", false)
	eventually(t, "release recovered and deployed", func() error {
		v, st := latestRevision(t, "mk-crash")
		if st != "deployed" || v < 2 {
			return fmt.Errorf("latest revision %d %q", v, st)
		}
		return nil
	})
	markDeploymentsAvailable(t, "mk-crash")
	eventually(t, "Ready again", conditionIs("crash", meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
}

func pause(t *testing.T, name string, paused bool) {
	t.Helper()
	mi := getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.Paused = paused
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
	if paused {
		eventually(t, "paused", conditionIs(name, meshv1.ConditionReconciling, metav1.ConditionFalse, meshv1.ReasonPaused))
	}
}

func findCondition(mi *meshv1.MeshInstallation, typ string) metav1.Condition {
	for _, c := range mi.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func secretKeyPair(t *testing.T, ns, name string) *pki.KeyPair {
	t.Helper()
	var s corev1.Secret
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	kp, err := pki.ParseKeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	return kp
}
