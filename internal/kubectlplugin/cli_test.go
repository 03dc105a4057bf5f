package kubectlplugin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	c "github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
	pm "github.com/meshkeeper/meshkeeper/proxy/metrics"
)

// cluster is a fake API server holding a healthy mesh: the injector answers
// dry-run pods (interceptor), the user may do anything, proxies serve the
// real exposition with the anchor and issuer of the installation's status.
func cluster(t *testing.T, mi *meshv1.MeshInstallation, metrics fakeMetrics, extra ...client.Object) (*App, *bytes.Buffer) {
	anchor, err := pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: "cluster.local", Now: now, Validity: 8760 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fp := pki.Fingerprint(anchor.Cert)
	mi.Status.Trust.Anchor.Fingerprint, mi.Status.Trust.BundleFingerprints = fp, []string{fp}
	for k := range metrics {
		ns, name, _ := strings.Cut(k, "/")
		if metrics[k] == nil {
			metrics[k] = exposition(t, fp, issuerI)
		}
		p := meshedPod(ns, name)
		extra = append(extra, &p)
	}
	cp := map[string]string{c.ComponentLabel: "injector"}
	op := deployment(cpNS, "meshkeeper-controller-manager", 1, 1, map[string]string{"app.kubernetes.io/name": "meshkeeper", "app.kubernetes.io/component": "operator"})
	inj := deployment(cpNS, "meshkeeper-injector", 1, 1, cp)
	objs := append([]client.Object{mi, &op, &inj,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo", Labels: map[string]string{c.InjectKey: c.InjectEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cpNS}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: c.TrustRootsConfigMap}, Data: map[string]string{c.TrustRootsKey: string(pki.EncodeCertificates(anchor.Cert))}},
	}, extra...)
	cl := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(objs...).WithStatusSubresource(&meshv1.MeshInstallation{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			switch o := obj.(type) {
			case *authv1.SelfSubjectAccessReview:
				o.Status.Allowed = true
				return nil
			case *corev1.Pod:
				if co := (&client.CreateOptions{}).ApplyOptions(opts); len(co.DryRun) == 0 {
					break
				}
				o.Labels = map[string]string{c.ProxyVersionLabel: proxyVer}
				o.Spec.InitContainers = append(o.Spec.InitContainers, corev1.Container{Name: c.ProxyContainerName})
				return nil // dry-run: nothing persists
			}
			return cl.Create(ctx, obj, opts...)
		}}).Build()
	var out bytes.Buffer
	clock := now
	return &App{
		Out: &out, Client: cl, Now: func() time.Time { return clock },
		Sleep: func(_ context.Context, d time.Duration) error { clock = clock.Add(d); return nil },
		Gatherer: &Gatherer{Client: cl, Metrics: metrics, Now: func() time.Time { return now }, Parallel: 2,
			ServerVersion: func() (*version.Info, error) {
				return &version.Info{Major: "1", Minor: "36", GitVersion: "v1.36.0"}, nil
			}},
	}, &out
}

func run(a *App, args ...string) error {
	cmd := NewCommand(func() (*App, error) { return a, nil }, nil)
	cmd.SetArgs(args)
	cmd.SetOut(a.Out)
	cmd.SetErr(a.Out)
	return cmd.ExecuteContext(context.Background())
}

func TestCommandCheckGathersAndExits(t *testing.T) {
	a, out := cluster(t, healthyMI(), fakeMetrics{"demo/backend-1": nil, "demo/frontend-1": nil})
	if err := run(a, "check"); err != nil {
		t.Fatalf("healthy check: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "all 12 checks passed") {
		t.Fatalf("output:\n%s", out)
	}

	// A pod of the meshed namespace without the proxy, and one proxy that
	// does not answer: check exits non-zero naming both.
	bare := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "legacy"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	a, out = cluster(t, healthyMI(), fakeMetrics{"demo/backend-1": nil}, &bare)
	gone := meshedPod("demo", "silent-1")
	if err := a.Client.Create(context.Background(), &gone); err != nil {
		t.Fatal(err)
	}
	err := run(a, "check")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Msg != "check failed: proxies, unmeshed pods" {
		t.Fatalf("err %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "demo/silent-1 (metrics unreadable") || !strings.Contains(out.String(), "demo/legacy") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestCommandCheckPre(t *testing.T) {
	a, out := cluster(t, healthyMI(), fakeMetrics{})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if err := a.Client.Create(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	if err := run(a, "check", "--pre", "-o", "json"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out.String(), `"failed": []`) {
		t.Fatalf("output:\n%s", out)
	}
}

func TestCommandStatGroupsByDeployment(t *testing.T) {
	mi := healthyMI()
	a, out := cluster(t, mi, fakeMetrics{})
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "backend-7c9",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "backend", UID: "d1", Controller: boolPtr(true)}}}}
	pod := meshedPod("demo", "backend-7c9-x")
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "backend-7c9", UID: "r1", Controller: boolPtr(true)}}
	for _, o := range []client.Object{rs, &pod} {
		if err := a.Client.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	// The first scrape sees 10 requests, the second 60: 50 in the 10s window.
	scrapes := 0
	a.Gatherer.Metrics = metricsFunc(func(context.Context, *corev1.Pod) ([]byte, error) {
		scrapes++
		n := 10
		if scrapes > 1 {
			n = 60
		}
		return exposition(t, anchorA, issuerI, requests(n, c.DirectionInbound, pm.Dst{}, 200, time.Millisecond)...), nil
	})
	if err := run(a, "stat", "demo", "--window", "10s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), "demo deploy/backend 1 100.00% 5.0") {
		t.Fatalf("output:\n%s", out)
	}
	for _, bad := range [][]string{{"stat", "--by", "svc"}, {"stat", "--window", "0s"}, {"stat", "--window", "11m"}, {"status", "-o", "yaml"}} {
		if err := run(a, bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := run(a, "stat", "nowhere"); err == nil || !strings.Contains(err.Error(), "no running meshed pod in namespace nowhere") {
		t.Errorf("empty namespace: %v", err)
	}
}

type metricsFunc func(context.Context, *corev1.Pod) ([]byte, error)

func (f metricsFunc) Metrics(ctx context.Context, p *corev1.Pod) ([]byte, error) { return f(ctx, p) }

func boolPtr(b bool) *bool { return &b }

func TestCommandsMutate(t *testing.T) {
	mi := healthyMI()
	mi.Spec.Version = "0.3.0"
	mi.Spec.Upgrade = &meshv1.UpgradeSpec{Approval: meshv1.ApprovalManual}
	a, out := cluster(t, mi, fakeMetrics{})
	get := func() *meshv1.MeshInstallation {
		var got meshv1.MeshInstallation
		if err := a.Client.Get(context.Background(), types.NamespacedName{Name: "mesh"}, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	if err := run(a, "upgrade", "approve"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := get(); got.Spec.Upgrade.ApprovedVersion != "0.3.0" {
		t.Fatalf("approvedVersion %q", got.Spec.Upgrade.ApprovedVersion)
	}
	if err := run(a, "upgrade", "approve"); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("second approve: %v", err)
	}
	if err := run(a, "upgrade", "pause"); err != nil || !get().Spec.Upgrade.Paused {
		t.Fatalf("pause: %v", err)
	}
	if err := run(a, "upgrade", "resume"); err != nil || get().Spec.Upgrade.Paused {
		t.Fatalf("resume: %v", err)
	}
	if err := run(a, "upgrade", "resume"); err == nil {
		t.Fatal("resume of a running upgrade accepted")
	}
	if err := run(a, "trust", "rotate"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if v := get().Annotations[meshv1.RotateAnchorAnnotation]; v != now.Format(time.RFC3339Nano) {
		t.Fatalf("rotate annotation %q", v)
	}
}

func TestActionsRefuse(t *testing.T) {
	mi := healthyMI()
	if _, err := Approve(mi); err == nil {
		t.Error("approve without Manual approval accepted")
	}
	mi.Spec.Upgrade = &meshv1.UpgradeSpec{Approval: meshv1.ApprovalManual}
	if _, err := Approve(mi); err == nil || !strings.Contains(err.Error(), "already installed") {
		t.Errorf("approve of the installed version: %v", err)
	}
	mi.Status.Trust.Rotation = &meshv1.RotationStatus{Phase: "Publish", Trigger: meshv1.TriggerScheduled}
	before := mi.DeepCopy()
	if _, err := RequestRotation(mi, now); err == nil || !strings.Contains(err.Error(), "already in phase Publish") {
		t.Errorf("rotation during a rotation: %v", err)
	}
	if mi.Annotations[meshv1.RotateAnchorAnnotation] != before.Annotations[meshv1.RotateAnchorAnnotation] {
		t.Error("a refused rotation changed the annotation")
	}
}
