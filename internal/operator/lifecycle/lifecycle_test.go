package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm/helmtest"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/operator/rotation"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

// The phases' order and their failure points, against controller-runtime's
// fake client (with interceptors) and helmtest.Fake. What needs a real API
// server (caches, RBAC, server-side apply, rendered Deployments becoming
// available) is tested in controllers/ under envtest.

var errInjected = kubeenv.ErrInjected

type noProxies struct{}

func (noProxies) Scrape(context.Context, []corev1.Pod) []proxymetrics.PodReport { return nil }

type lifecycleFixture struct {
	t      *testing.T
	c      client.Client
	writes *kubeenv.Faults
	helm   *helmtest.Fake
	r      *Reconciler
	mi     *meshv1.MeshInstallation
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	t.Helper()
	w := &kubeenv.Faults{}
	c := kubeenv.NewFakeClient(w, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mi := &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: "mesh", UID: "mi-uid", Generation: 3}}
	mi.Spec.Version = "0.1.0"
	mi.Spec.ControlPlane.Namespace = "meshkeeper-system"
	mi.Spec.Trust.TrustDomain = "cluster.local"
	h := helmtest.New(mi.Spec.ControlPlane.Namespace, release.ReleaseName)
	return &lifecycleFixture{t: t, c: c, writes: w, helm: h, mi: mi, r: &Reconciler{
		Client: c, APIReader: c, Clock: clock,
		Upgrade:   &upgrade.Runner{Client: c, APIReader: c, Releases: h, Proxies: noProxies{}, Clock: clock},
		Trust:     &rotation.Runner{Trust: &trust.Manager{Client: c, APIReader: c, Clock: clock}, Client: c, Proxies: noProxies{}, Clock: clock},
		Installer: &release.Installer{Helm: h},
	}}
}

func (f *lifecycleFixture) run() (time.Duration, error) {
	f.helm.Calls, f.writes.Writes = nil, 0
	return f.r.Run(context.Background(), f.mi)
}

func (f *lifecycleFixture) wantHelmCalls(want ...string) {
	f.t.Helper()
	if !slices.Equal(f.helm.Calls, want) {
		f.t.Fatalf("helm calls = %v, want %v", f.helm.Calls, want)
	}
}

func (f *lifecycleFixture) secretExists(name string) bool {
	var s corev1.Secret
	err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.mi.Spec.ControlPlane.Namespace, Name: name}, &s)
	if err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatal(err)
	}
	return err == nil
}

func (f *lifecycleFixture) condition(typ string) *metav1.Condition {
	return meta.FindStatusCondition(f.mi.Status.Conditions, typ)
}

func TestLifecycleFirstPassInstallsOnceAndTheNextChangesNothing(t *testing.T) {
	f := newLifecycleFixture(t)
	requeue, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if requeue <= 0 || requeue > ResyncInterval {
		t.Fatalf("requeue %v, want within (0, %v]", requeue, ResyncInterval)
	}
	f.wantHelmCalls("validate", "install")
	for _, s := range []string{trust.AnchorSecret, trust.IssuerSecret, trust.InjectorTLSSecret} {
		if !f.secretExists(s) {
			t.Fatalf("secret %s not created", s)
		}
	}
	rel := f.helm.Latest()
	if rel.Status != helm.StatusDeployed || rel.Digest == "" || rel.Digest != f.mi.Status.ControlPlane.Digest {
		t.Fatalf("release %+v, status digest %q", rel, f.mi.Status.ControlPlane.Digest)
	}
	if f.mi.Status.InstalledVersion != "0.1.0" || f.mi.Status.ObservedGeneration != 3 || f.mi.Status.Trust.Anchor == nil {
		t.Fatalf("status: installed %q, observedGeneration %d, anchor %v",
			f.mi.Status.InstalledVersion, f.mi.Status.ObservedGeneration, f.mi.Status.Trust.Anchor)
	}
	if c := f.condition(meshv1.ConditionTrustReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("TrustReady = %+v", c)
	}

	// The same spec again: no Helm action and no write.
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.wantHelmCalls("validate")
	if f.writes.Writes != 0 || len(f.helm.Revs) != 1 {
		t.Fatalf("an unchanged installation made %d writes and %d revisions", f.writes.Writes, len(f.helm.Revs))
	}
}

func TestLifecycleValuesThatDoNotRenderChangeNothing(t *testing.T) {
	f := newLifecycleFixture(t)
	f.helm.Fail["validate"] = []error{fmt.Errorf("helm: %w: bad value", helm.ErrRenderFailed)}
	_, err := f.run()
	if err == nil {
		t.Fatal("a chart that does not render was accepted")
	}
	f.wantHelmCalls("validate")
	if f.writes.Writes != 0 || f.secretExists(trust.AnchorSecret) {
		t.Fatalf("bad input made %d writes", f.writes.Writes)
	}
	if c := f.condition(meshv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue || c.Reason != meshv1.ReasonInvalidValues {
		t.Fatalf("Stalled = %+v, want True/%s", c, meshv1.ReasonInvalidValues)
	}
	if f.mi.Status.ObservedGeneration != 3 {
		t.Fatalf("observedGeneration %d: a stalled spec was still judged", f.mi.Status.ObservedGeneration)
	}
}

func TestLifecycleUnsupportedVersionChangesNothing(t *testing.T) {
	f := newLifecycleFixture(t)
	f.mi.Spec.Version = "9.9.9"
	if _, err := f.run(); err == nil {
		t.Fatal("an unknown version was accepted")
	}
	if len(f.helm.Calls) != 0 || f.writes.Writes != 0 {
		t.Fatalf("helm calls %v, %d writes", f.helm.Calls, f.writes.Writes)
	}
	if c := f.condition(meshv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Stalled = %+v", c)
	}
}

func TestLifecycleTrustFailureInstallsNothing(t *testing.T) {
	f := newLifecycleFixture(t)
	f.writes.Fail = func(verb string, obj client.Object) bool {
		return verb == "create" && obj.GetName() == trust.IssuerSecret
	}
	_, err := f.run()
	if !errors.Is(err, errInjected) {
		t.Fatalf("run: %v, want the injected failure", err)
	}
	f.wantHelmCalls("validate")
	if f.mi.Status.ObservedGeneration != 0 {
		t.Fatalf("observedGeneration %d after a failed pass", f.mi.Status.ObservedGeneration)
	}
	if stalled := f.condition(meshv1.ConditionStalled); stalled != nil && stalled.Status == metav1.ConditionTrue {
		t.Fatalf("a transient failure stalled the installation: %+v", stalled)
	}
	// Once the API server takes the write, the next pass installs.
	f.writes.Fail = nil
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.wantHelmCalls("validate", "install")
}

func TestLifecycleObservationFailureAfterInstallDoesNotInstallTwice(t *testing.T) {
	f := newLifecycleFixture(t)
	failed := false
	f.writes.FailList = func(list client.ObjectList) bool {
		if _, ok := list.(*appsv1.DeploymentList); ok && !failed {
			failed = true
			return true
		}
		return false
	}
	if _, err := f.run(); !errors.Is(err, errInjected) {
		t.Fatalf("run: %v, want the injected failure", err)
	}
	f.wantHelmCalls("validate", "install")
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.wantHelmCalls("validate")
	if len(f.helm.Revs) != 1 {
		t.Fatalf("%d revisions, want 1", len(f.helm.Revs))
	}
}

func TestLifecycleFailedInstallIsCountedAndRetried(t *testing.T) {
	f := newLifecycleFixture(t)
	f.helm.Fail["install"] = []error{errInjected}
	if _, err := f.run(); !errors.Is(err, errInjected) {
		t.Fatalf("run: %v", err)
	}
	if f.mi.Status.ControlPlane.Failures != 1 || !f.secretExists(trust.IssuerSecret) {
		t.Fatalf("failures %d; trust is established before the release", f.mi.Status.ControlPlane.Failures)
	}
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.wantHelmCalls("validate", "install")
	if rel := f.helm.Latest(); rel.Revision != 2 || rel.Status != helm.StatusDeployed {
		t.Fatalf("release %+v, want revision 2 deployed", rel)
	}
}

// A rotation started while the issuer Secret is missing: the pass reports
// (no nil issuer dereferenced), re-issues the issuer from the old anchor,
// which every proxy still trusts, and the rotation then completes.
func TestLifecycleRotationStartedWithoutAnIssuer(t *testing.T) {
	f := newLifecycleFixture(t)
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	old := f.mi.Status.Trust.Anchor.Fingerprint
	if err := f.c.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "meshkeeper-system", Name: trust.IssuerSecret}}); err != nil {
		t.Fatal(err)
	}
	f.mi.Annotations = map[string]string{meshv1.RotateAnchorAnnotation: "1"}
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	if r := f.mi.Status.Trust.Rotation; r == nil || f.mi.Status.Trust.Issuer == nil {
		t.Fatalf("rotation %+v, issuer %+v", r, f.mi.Status.Trust.Issuer)
	}
	var s corev1.Secret
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "meshkeeper-system", Name: trust.IssuerSecret}, &s); err != nil {
		t.Fatalf("issuer not re-issued: %v", err)
	}
	for i := 0; i < 10 && f.mi.Status.Trust.Rotation != nil; i++ {
		if _, err := f.run(); err != nil {
			t.Fatal(err)
		}
	}
	if last := f.mi.Status.Trust.LastRotation; last == nil || last.OldAnchor != old || f.mi.Status.Trust.Anchor.Fingerprint != last.NewAnchor {
		t.Fatalf("rotation did not complete: last %+v, anchor %+v", last, f.mi.Status.Trust.Anchor)
	}
}
