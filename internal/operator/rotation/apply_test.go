package rotation

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

// The runner's side effects against controller-runtime's fake client, with
// interceptor functions that fail one exact write. The full API-server
// behaviour (RBAC, caches, real pods) is covered by controllers/rotation_test.go
// under envtest; these tests pin what happens at each failure point.

const cpNS = "meshkeeper-system"

// faults fails the write number failAt (1-based, counting every write asked
// for) once, or every write matching match, and records the pending anchors
// written.
type faults struct {
	kubeenv.Faults
	failAt int
	match  func(verb string, obj client.Object) bool
	// nextAnchors are the fingerprints of every pending anchor written.
	nextAnchors []string
}

var errInjected = kubeenv.ErrInjected

func newFaults() *faults {
	f := &faults{}
	f.Fail = func(verb string, obj client.Object) bool {
		return f.Attempts == f.failAt || (f.match != nil && f.match(verb, obj))
	}
	f.Written = func(_ string, obj client.Object) { f.record(obj) }
	return f
}

func (f *faults) record(obj client.Object) {
	if s, ok := obj.(*corev1.Secret); ok && s.Name == trust.NextAnchorSecret {
		if kp, err := pki.ParseKeyPair(s.Data["tls.crt"], s.Data["tls.key"]); err == nil {
			fp := pki.Fingerprint(kp.Cert)
			if !slices.Contains(f.nextAnchors, fp) {
				f.nextAnchors = append(f.nextAnchors, fp)
			}
		}
	}
}

// followingProxies report the bundle published in their namespace and the
// current issuer, as proxies that hot-reload both do; a pod in stuck keeps
// reporting the anchors it first saw until its workload is restarted.
type followingProxies struct {
	c     client.Client
	stuck map[string][]string // pod name -> anchors it is stuck on
	// stuckIssuer: pod name -> issuer whose certificate it keeps until its
	// workload is restarted.
	stuckIssuer map[string]string
}

func (p *followingProxies) Scrape(ctx context.Context, pods []corev1.Pod) []proxymetrics.PodReport {
	out := make([]proxymetrics.PodReport, 0, len(pods))
	for _, pod := range pods {
		rep := proxymetrics.PodReport{Pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}}
		if anchors, ok := p.stuck[pod.Name]; ok && !p.restarted(ctx, pod) {
			rep.Report.TrustAnchors = anchors
		} else {
			rep.Report.TrustAnchors, rep.Err = p.bundle(ctx, pod.Namespace)
		}
		rep.Report.Issuer = p.issuer(ctx)
		if iss, ok := p.stuckIssuer[pod.Name]; ok && !p.restarted(ctx, pod) {
			rep.Report.Issuer = iss
		}
		out = append(out, rep)
	}
	return out
}

func (p *followingProxies) bundle(ctx context.Context, ns string) ([]string, error) {
	var cm corev1.ConfigMap
	if err := p.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: trust.BundleConfigMap}, &cm); err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates([]byte(cm.Data[trust.BundleKey]))
	if err != nil {
		return nil, err
	}
	var fps []string
	for _, c := range certs {
		fps = append(fps, pki.Fingerprint(c))
	}
	slices.Sort(fps)
	return fps, nil
}

func (p *followingProxies) issuer(ctx context.Context) string {
	var s corev1.Secret
	if err := p.c.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: trust.IssuerSecret}, &s); err != nil {
		return ""
	}
	kp, err := pki.ParseKeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		return ""
	}
	return pki.Fingerprint(kp.Cert)
}

func (p *followingProxies) restarted(ctx context.Context, pod corev1.Pod) bool {
	ref := metav1.GetControllerOf(&pod)
	var sts appsv1.StatefulSet
	if ref == nil || p.c.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, &sts) != nil {
		return false
	}
	return sts.Spec.Template.Annotations[contract.RestartedAtAnnotation] != ""
}

type runnerFixture struct {
	t       *testing.T
	faults  *faults
	c       client.Client
	clock   *clocktesting.FakeClock
	runner  *Runner
	proxies *followingProxies
	mi      *meshv1.MeshInstallation
}

func newRunnerFixture(t *testing.T) *runnerFixture {
	t.Helper()
	app := "app"
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "db", UID: "sts-uid"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "db-0", Labels: map[string]string{contract.ProxyVersionLabel: "v1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "sts-uid", Controller: ptr.To(true)}}},
		Spec:   corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.ProxyContainerName}}, Containers: []corev1.Container{{Name: "db"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.0.10"},
	}
	f := newFaults()
	c := kubeenv.NewFakeClient(&f.Faults, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}, sts, pod)
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	proxies := &followingProxies{c: c, stuck: map[string][]string{}, stuckIssuer: map[string]string{}}
	mi := &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: "mesh", UID: "mi-uid"}}
	mi.Spec.ControlPlane.Namespace = cpNS
	mi.Spec.Trust.TrustDomain = "cluster.local"
	return &runnerFixture{
		t: t, faults: f, c: c, clock: clock, proxies: proxies, mi: mi,
		runner: &Runner{Trust: &trust.Manager{Client: c, APIReader: c, Clock: clock}, Client: c, Proxies: proxies, Clock: clock},
	}
}

// pass runs the runner once and records the anchor in effect in status, as
// the lifecycle does after every pass (the runner reads it back to know
// which anchor live certificates chain to).
func (f *runnerFixture) pass() error {
	out, err := f.runner.Reconcile(context.Background(), f.mi)
	if err == nil && out != nil && out.State != nil && out.State.Active != nil {
		f.mi.Status.Trust.Anchor = &meshv1.CertificateStatus{Fingerprint: pki.Fingerprint(out.State.Active.Cert), Source: out.State.Source}
	}
	return err
}

func (f *runnerFixture) secretAnchor(name string) string {
	f.t.Helper()
	var s corev1.Secret
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: cpNS, Name: name}, &s); err != nil {
		f.t.Fatalf("secret %s: %v", name, err)
	}
	kp, err := pki.ParseKeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		f.t.Fatal(err)
	}
	return pki.Fingerprint(kp.Cert)
}

func (f *runnerFixture) bundleIn(ns string) []string {
	f.t.Helper()
	fps, err := f.proxies.bundle(context.Background(), ns)
	if err != nil {
		f.t.Fatalf("bundle in %s: %v", ns, err)
	}
	return fps
}

// rotate asks for a rotation and runs passes (one second apart) until it is
// recorded as complete, returning the errors seen on the way.
func (f *runnerFixture) rotate(token string) []error {
	f.t.Helper()
	f.mi.Annotations = map[string]string{meshv1.RotateAnchorAnnotation: token}
	var errs []error
	for range 40 {
		f.clock.Step(time.Second)
		if err := f.pass(); err != nil {
			errs = append(errs, err)
			continue
		}
		if f.mi.Status.Trust.Rotation == nil && f.mi.Status.Trust.LastRotation != nil {
			return errs
		}
	}
	f.t.Fatalf("rotation did not complete in 40 passes; phase %+v, errors %v", f.mi.Status.Trust.Rotation, errs)
	return nil
}

func TestRunnerFirstPassFailureDoesNotMakeASecondAnchor(t *testing.T) {
	f := newRunnerFixture(t)
	// Publishing the bundle to the app namespace fails once.
	failed := false
	f.faults.match = func(verb string, obj client.Object) bool {
		if !failed && verb == "create" && obj.GetNamespace() == "app" && obj.GetName() == trust.BundleConfigMap {
			failed = true
			return true
		}
		return false
	}
	err := f.pass()
	if !errors.Is(err, errInjected) {
		t.Fatalf("first pass: %v, want the injected failure", err)
	}
	anchor := f.secretAnchor(trust.AnchorSecret)
	if err := f.pass(); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if got := f.secretAnchor(trust.AnchorSecret); got != anchor {
		t.Fatalf("anchor replaced after a failed pass: %s -> %s", anchor, got)
	}
	if got := f.bundleIn("app"); !slices.Equal(got, []string{anchor}) {
		t.Fatalf("bundle in app = %v, want the anchor %s", got, anchor)
	}
	var cm corev1.ConfigMap
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "kube-system", Name: trust.BundleConfigMap}, &cm); !apierrors.IsNotFound(err) {
		t.Fatalf("kube-system got a bundle: %v", err)
	}
}

// Every write of a whole rotation fails once, in turn; each time the rotation
// still completes with one new anchor, published alone, that signs the issuer.
func TestRunnerRotationSurvivesAFailureAtEveryWrite(t *testing.T) {
	clean := newRunnerFixture(t)
	if err := clean.pass(); err != nil {
		t.Fatal(err)
	}
	start := clean.faults.Attempts
	if errs := clean.rotate("1"); len(errs) > 0 {
		t.Fatalf("fault-free rotation: %v", errs)
	}
	total := clean.faults.Attempts - start
	if total < 5 {
		t.Fatalf("a rotation made only %d writes", total)
	}
	for k := 1; k <= total; k++ {
		t.Run(fmt.Sprintf("write %d of %d fails", k, total), func(t *testing.T) {
			f := newRunnerFixture(t)
			if err := f.pass(); err != nil {
				t.Fatal(err)
			}
			old := f.secretAnchor(trust.AnchorSecret)
			f.faults.failAt = f.faults.Attempts + k
			errs := f.rotate("1")
			if len(errs) != 1 || !errors.Is(errs[0], errInjected) {
				t.Fatalf("errors = %v, want exactly the injected one", errs)
			}
			if len(f.faults.nextAnchors) != 1 {
				t.Fatalf("pending anchors written: %v, want exactly one", f.faults.nextAnchors)
			}
			next := f.faults.nextAnchors[0]
			if got := f.secretAnchor(trust.AnchorSecret); got != next || got == old {
				t.Fatalf("active anchor %s, want the new %s (old %s)", got, next, old)
			}
			for _, ns := range []string{cpNS, "app"} {
				if got := f.bundleIn(ns); !slices.Equal(got, []string{next}) {
					t.Fatalf("bundle in %s = %v, want only %s", ns, got, next)
				}
			}
			var s corev1.Secret
			if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: cpNS, Name: trust.NextAnchorSecret}, &s); !apierrors.IsNotFound(err) {
				t.Fatalf("pending anchor Secret left behind: %v", err)
			}
			last := f.mi.Status.Trust.LastRotation
			if last.OldAnchor != old || last.NewAnchor != next {
				t.Fatalf("last rotation %s -> %s, want %s -> %s", last.OldAnchor, last.NewAnchor, old, next)
			}
		})
	}
}

func TestRunnerRestartFailureIsRetriedAndRecordedOnce(t *testing.T) {
	f := newRunnerFixture(t)
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	f.proxies.stuck["db-0"] = []string{f.secretAnchor(trust.AnchorSecret)}
	f.mi.Annotations = map[string]string{meshv1.RotateAnchorAnnotation: "1"}
	// Run until the rotation waits on the stuck proxy.
	for range 5 {
		if err := f.pass(); err != nil {
			t.Fatal(err)
		}
	}
	rot := f.mi.Status.Trust.Rotation
	if rot == nil || rot.Phase != string(PhaseAwaitBundle) || !slices.Equal(rot.Lagging, []string{"app/db-0"}) {
		t.Fatalf("rotation = %+v, want AwaitBundle lagging on app/db-0", rot)
	}
	// Past the convergence deadline the restart's patch fails once.
	f.clock.Step(DefaultConvergenceTimeout + time.Second)
	f.faults.match = func(verb string, obj client.Object) bool {
		return verb == "patch" && obj.GetName() == "db"
	}
	err := f.pass()
	if !errors.Is(err, errInjected) {
		t.Fatalf("pass: %v, want the injected failure", err)
	}
	if len(f.mi.Status.Trust.Rotation.Restarted) != 0 {
		t.Fatalf("a failed restart is recorded: %v", f.mi.Status.Trust.Rotation.Restarted)
	}
	f.faults.match = nil
	if err := f.pass(); err != nil {
		t.Fatal(err)
	}
	if got := f.mi.Status.Trust.Rotation.Restarted; !slices.Equal(got, []string{"StatefulSet/app/db"}) {
		t.Fatalf("restarted = %v", got)
	}
	var sts appsv1.StatefulSet
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "app", Name: "db"}, &sts); err != nil {
		t.Fatal(err)
	}
	if sts.Spec.Template.Annotations[contract.RestartedAtAnnotation] == "" {
		t.Fatal("the StatefulSet was not stamped for a restart")
	}
	// The restarted proxy converges and the rotation completes.
	if errs := f.rotate("1"); len(errs) > 0 {
		t.Fatal(errs)
	}
}
