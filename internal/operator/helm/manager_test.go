package helm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

// Shared by the envtest tests; nil when KUBEBUILDER_ASSETS is not set.
var (
	testCfg    *rest.Config
	testClient kubernetes.Interface
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	if !kubeenv.Available() {
		fmt.Fprintln(os.Stderr, kubeenv.HowToGetAssets+": skipping envtest tests")
		return m.Run()
	}
	env, cfg, err := kubeenv.Start(kubeenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	testCfg = cfg
	testClient = kubernetes.NewForConfigOrDie(cfg)
	return m.Run()
}

// fixture is one test's namespace, release and manager.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	m     *Manager
	ns    string
	name  string
	chart *Chart
	owner Owner
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	if testCfg == nil {
		t.Skip("envtest not available (set KUBEBUILDER_ASSETS)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	ch, err := LoadChart(os.DirFS(testChartDir), ".")
	if err != nil {
		t.Fatal(err)
	}
	ns := "t-" + strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	return &fixture{
		t: t, ctx: ctx, ns: ns, name: "mesh", chart: ch,
		m: NewManager(testCfg, logr.Discard(), opts...),
		owner: Owner{
			APIVersion: "mesh.meshkeeper.io/v1alpha1", Kind: "MeshInstallation", Name: "default",
			UID:    "6b0c1f3e-9d1e-4c59-9e7c-000000000001",
			Labels: map[string]string{contract.InstallationLabel: "default"},
		},
	}
}

func (f *fixture) createNamespace() {
	f.t.Helper()
	_, err := testClient.CoreV1().Namespaces().Create(f.ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		f.t.Fatal(err)
	}
}

func (f *fixture) req(values map[string]any, digest string) InstallRequest {
	return InstallRequest{
		ReleaseName: f.name, Namespace: f.ns, Chart: f.chart, Values: values, Digest: digest, Owner: f.owner,
	}
}

func (f *fixture) install(values map[string]any, digest string) *Release {
	f.t.Helper()
	rel, err := f.m.Install(f.ctx, f.req(values, digest))
	if err != nil {
		f.t.Fatalf("install: %v", err)
	}
	return rel
}

func (f *fixture) upgrade(values map[string]any, digest string) *Release {
	f.t.Helper()
	rel, err := f.m.Upgrade(f.ctx, f.req(values, digest))
	if err != nil {
		f.t.Fatalf("upgrade: %v", err)
	}
	return rel
}

func (f *fixture) get() *Release {
	f.t.Helper()
	rel, err := f.m.Get(f.ctx, f.ns, f.name)
	if err != nil {
		f.t.Fatalf("get: %v", err)
	}
	return rel
}

func (f *fixture) configMapName() string   { return f.name + "-testchart" }
func (f *fixture) clusterRoleName() string { return f.name + "-testchart-" + f.ns }

func (f *fixture) greeting() string {
	f.t.Helper()
	cm, err := testClient.CoreV1().ConfigMaps(f.ns).Get(f.ctx, f.configMapName(), metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("configmap: %v", err)
	}
	return cm.Data["greeting"]
}

// storedRevisions counts the release Secrets Helm keeps for the release.
func (f *fixture) storedRevisions() int {
	f.t.Helper()
	l, err := testClient.CoreV1().Secrets(f.ns).List(f.ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + f.name})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(l.Items)
}

func wantRelease(t *testing.T, rel *Release, rev int, st Status, lastDeployed int, digest string) {
	t.Helper()
	if rel == nil {
		t.Fatalf("release is nil, want revision %d %s", rev, st)
	}
	if rel.Revision != rev || rel.Status != st || rel.LastDeployedRevision != lastDeployed || rel.Digest != digest {
		t.Fatalf("release = rev %d %s lastDeployed %d digest %q (%s), want rev %d %s lastDeployed %d digest %q",
			rel.Revision, rel.Status, rel.LastDeployedRevision, rel.Digest, rel.Description, rev, st, lastDeployed, digest)
	}
}

func checkOwned(t *testing.T, what string, labels map[string]string, refs []metav1.OwnerReference, owner Owner) {
	t.Helper()
	if labels[contract.InstallationLabel] != "default" || labels["app.kubernetes.io/name"] != "testchart" {
		t.Errorf("%s labels = %v", what, labels)
	}
	if len(refs) != 1 {
		t.Fatalf("%s ownerReferences = %+v", what, refs)
	}
	r := refs[0]
	if r.UID != owner.UID || r.Kind != owner.Kind || r.APIVersion != owner.APIVersion || r.Name != owner.Name ||
		r.Controller == nil || !*r.Controller || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
		t.Errorf("%s ownerReference = %+v", what, r)
	}
}

func TestInstallUpgradeGet(t *testing.T) {
	f := newFixture(t)
	// Helm's debug log goes to the injected logger at V(1).
	var helmLines atomic.Int32
	f.m = NewManager(testCfg, funcr.New(func(_, _ string) { helmLines.Add(1) }, funcr.Options{Verbosity: 1}))

	if rel := f.get(); rel != nil {
		t.Fatalf("get before install = %+v, want nil", rel)
	}
	req := f.req(map[string]any{"greeting": "one"}, "digest-1")
	req.CreateNamespace = true
	rel, err := f.m.Install(f.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, rel, 1, StatusDeployed, 1, "digest-1")
	if rel.ChartVersion != "0.1.0" || rel.Name != f.name || rel.Namespace != f.ns {
		t.Errorf("release = %+v", rel)
	}
	wantRelease(t, f.get(), 1, StatusDeployed, 1, "digest-1")
	if got := f.get().Owner; got != f.owner.Name || got == "" {
		t.Errorf("release owner claim = %q, want %q", got, f.owner.Name)
	}
	if helmLines.Load() == 0 {
		t.Error("no Helm log line reached the logger")
	}

	cm, err := testClient.CoreV1().ConfigMaps(f.ns).Get(f.ctx, f.configMapName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkOwned(t, "configmap", cm.Labels, cm.OwnerReferences, f.owner)
	if cm.Data["greeting"] != "one" {
		t.Errorf("configmap data = %v", cm.Data)
	}
	cr, err := testClient.RbacV1().ClusterRoles().Get(f.ctx, f.clusterRoleName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkOwned(t, "clusterrole", cr.Labels, cr.OwnerReferences, f.owner)
	if len(cr.Rules) != 1 || strings.Join(cr.Rules[0].Verbs, ",") != "get,list" {
		t.Errorf("clusterrole rules = %+v", cr.Rules)
	}

	objs, err := f.m.Objects(rel)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, o := range objs {
		kinds[o.GetKind()] = o.GetName()
		if len(o.GetOwnerReferences()) != 1 {
			t.Errorf("manifest object %s has no owner reference", o.GetKind())
		}
	}
	if len(objs) != 2 || kinds["ConfigMap"] != f.configMapName() || kinds["ClusterRole"] != f.clusterRoleName() {
		t.Errorf("objects = %v", kinds)
	}

	// Install over a live release is refused.
	if _, err := f.m.Install(f.ctx, f.req(nil, "x")); !errors.Is(err, ErrReleaseExists) {
		t.Errorf("second install err = %v, want ErrReleaseExists", err)
	}

	rel = f.upgrade(map[string]any{"greeting": "two", "verbs": []any{"get"}}, "digest-2")
	wantRelease(t, rel, 2, StatusDeployed, 2, "digest-2")
	wantRelease(t, f.get(), 2, StatusDeployed, 2, "digest-2")
	if g := f.greeting(); g != "two" {
		t.Errorf("greeting after upgrade = %q", g)
	}
	cr, err = testClient.RbacV1().ClusterRoles().Get(f.ctx, f.clusterRoleName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cr.Rules[0].Verbs, ",") != "get" {
		t.Errorf("clusterrole verbs after upgrade = %v", cr.Rules[0].Verbs)
	}

	// Upgrade with an empty digest drops the label.
	rel = f.upgrade(map[string]any{"greeting": "two"}, "")
	wantRelease(t, rel, 3, StatusDeployed, 3, "")
	if rel.Owner != f.owner.Name {
		t.Errorf("release owner claim after upgrades = %q, want %q", rel.Owner, f.owner.Name)
	}
}

func TestMaxHistory(t *testing.T) {
	f := newFixture(t, WithMaxHistory(2))
	f.createNamespace()
	f.install(map[string]any{"greeting": "v1"}, "d1")
	for i := 2; i <= 4; i++ {
		rel := f.upgrade(map[string]any{"greeting": fmt.Sprintf("v%d", i)}, fmt.Sprintf("d%d", i))
		wantRelease(t, rel, i, StatusDeployed, i, fmt.Sprintf("d%d", i))
	}
	if n := f.storedRevisions(); n != 2 {
		t.Errorf("stored revisions = %d, want 2 (MaxHistory)", n)
	}
	if g := f.greeting(); g != "v4" {
		t.Errorf("greeting = %q", g)
	}
}

func TestRenderFailureOnInstall(t *testing.T) {
	f := newFixture(t)
	f.createNamespace()
	rel, err := f.m.Install(f.ctx, f.req(map[string]any{"fail": true}, "d1"))
	if !errors.Is(err, ErrRenderFailed) {
		t.Fatalf("install err = %v, want ErrRenderFailed", err)
	}
	if !strings.Contains(err.Error(), "rendering refused") {
		t.Errorf("error does not carry the template's message: %v", err)
	}
	if rel != nil {
		t.Errorf("install returned %+v", rel)
	}
	if got := f.get(); got != nil {
		t.Fatalf("release left behind: %+v", got)
	}
	if n := f.storedRevisions(); n != 0 {
		t.Errorf("%d release secrets left behind", n)
	}
	if _, err := testClient.CoreV1().ConfigMaps(f.ns).Get(f.ctx, f.configMapName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap get err = %v, want NotFound", err)
	}
	// Any truthy .Values.fail aborts rendering, whatever else the values hold.
	_, err = f.m.Install(f.ctx, f.req(map[string]any{"verbs": map[string]any{"a": 1}, "greeting": []any{"x"}, "fail": "yes"}, ""))
	if !errors.Is(err, ErrRenderFailed) {
		t.Errorf("bad values err = %v, want ErrRenderFailed", err)
	}
	if got := f.get(); got != nil {
		t.Fatalf("release left behind: %+v", got)
	}
	// Upgrade and Rollback of a release that does not exist.
	if _, err := f.m.Upgrade(f.ctx, f.req(nil, "")); !errors.Is(err, ErrNotFound) {
		t.Errorf("upgrade of missing release err = %v, want ErrNotFound", err)
	}
	if _, err := f.m.Rollback(f.ctx, f.ns, "absent", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("rollback of missing release err = %v, want ErrNotFound", err)
	}
	if rel, err := f.m.Unlock(f.ctx, f.ns, "absent"); rel != nil || err != nil {
		t.Errorf("unlock of missing release = %v, %v", rel, err)
	}
}

// setStoredStatus rewrites the status of a stored revision through Helm's
// Secret storage driver, as a crash in the middle of an action leaves it.
func (f *fixture) setStoredStatus(rev int, st release.Status) {
	f.t.Helper()
	d := driver.NewSecrets(testClient.CoreV1().Secrets(f.ns))
	key := fmt.Sprintf("sh.helm.release.v1.%s.v%d", f.name, rev)
	r, err := d.Get(key)
	if err != nil {
		f.t.Fatal(err)
	}
	r.SetStatus(st, "simulated crash")
	if err := d.Update(key, r); err != nil {
		f.t.Fatal(err)
	}
}

func TestUnlockAfterCrash(t *testing.T) {
	f := newFixture(t)
	f.createNamespace()
	f.install(map[string]any{"greeting": "one"}, "d1")
	f.setStoredStatus(1, release.StatusPendingInstall)

	wantRelease(t, f.get(), 1, StatusPendingInstall, 0, "d1")
	if _, err := f.m.Install(f.ctx, f.req(nil, "d1")); !errors.Is(err, ErrPending) {
		t.Errorf("install on pending err = %v, want ErrPending", err)
	}
	if _, err := f.m.Upgrade(f.ctx, f.req(nil, "d1")); !errors.Is(err, ErrPending) {
		t.Errorf("upgrade on pending err = %v, want ErrPending", err)
	}
	if _, err := f.m.Rollback(f.ctx, f.ns, f.name, 0); !errors.Is(err, ErrPending) {
		t.Errorf("rollback on pending err = %v, want ErrPending", err)
	}

	rel, err := f.m.Unlock(f.ctx, f.ns, f.name)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, rel, 1, StatusFailed, 0, "d1")
	if !strings.Contains(rel.Description, "interrupted") || !strings.Contains(rel.Description, "pending-install") {
		t.Errorf("unlock description = %q", rel.Description)
	}
	wantRelease(t, f.get(), 1, StatusFailed, 0, "d1")

	// Replace re-does the failed install in place, adopting the objects.
	rel = f.install(map[string]any{"greeting": "again"}, "d2")
	wantRelease(t, rel, 2, StatusDeployed, 2, "d2")
	if g := f.greeting(); g != "again" {
		t.Errorf("greeting = %q", g)
	}
	// Unlock of a release that is not pending changes nothing.
	rel, err = f.m.Unlock(f.ctx, f.ns, f.name)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, rel, 2, StatusDeployed, 2, "d2")

	// A crash during an upgrade.
	f.setStoredStatus(2, release.StatusPendingUpgrade)
	if _, err := f.m.Upgrade(f.ctx, f.req(nil, "d3")); !errors.Is(err, ErrPending) {
		t.Errorf("upgrade on pending err = %v, want ErrPending", err)
	}
	if _, err := f.m.Unlock(f.ctx, f.ns, f.name); err != nil {
		t.Fatal(err)
	}
	rel = f.upgrade(map[string]any{"greeting": "three"}, "d3")
	wantRelease(t, rel, 3, StatusDeployed, 3, "d3")
}

func TestFailedUpgradeRollback(t *testing.T) {
	f := newFixture(t)
	f.createNamespace()
	f.install(map[string]any{"greeting": "one"}, "d1")
	f.upgrade(map[string]any{"greeting": "two"}, "d2")

	// A render failure writes no revision.
	_, err := f.m.Upgrade(f.ctx, f.req(map[string]any{"greeting": "bad", "fail": true}, "d-bad"))
	if !errors.Is(err, ErrRenderFailed) {
		t.Fatalf("upgrade err = %v, want ErrRenderFailed", err)
	}
	wantRelease(t, f.get(), 2, StatusDeployed, 2, "d2")

	rel, err := f.m.Rollback(f.ctx, f.ns, f.name, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, rel, 3, StatusDeployed, 3, "d1")
	if g := f.greeting(); g != "one" {
		t.Errorf("greeting after rollback = %q, want one", g)
	}

	// An upgrade the API server rejects (a ClusterRole rule without verbs) is
	// recorded as a failed revision, not as a render failure.
	rel, err = f.m.Upgrade(f.ctx, f.req(map[string]any{"greeting": "four", "verbs": []any{}}, "d4"))
	if err == nil || errors.Is(err, ErrRenderFailed) || errors.Is(err, ErrPending) {
		t.Fatalf("upgrade err = %v, want an untyped API error", err)
	}
	wantRelease(t, rel, 4, StatusFailed, 3, "d4")
	rel, err = f.m.Rollback(f.ctx, f.ns, f.name, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, rel, 5, StatusDeployed, 5, "d1")
	if g := f.greeting(); g != "one" {
		t.Errorf("greeting after second rollback = %q, want one", g)
	}
	// Explicit target revision.
	rel, err = f.m.Rollback(f.ctx, f.ns, f.name, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, rel, 6, StatusDeployed, 6, "d2")
	if g := f.greeting(); g != "two" {
		t.Errorf("greeting after rollback to 2 = %q, want two", g)
	}
}

func TestUninstall(t *testing.T) {
	f := newFixture(t)
	f.createNamespace()
	f.install(map[string]any{"greeting": "one"}, "d1")
	f.upgrade(map[string]any{"greeting": "two"}, "d2")

	if err := f.m.Uninstall(f.ctx, f.ns, f.name); err != nil {
		t.Fatal(err)
	}
	if _, err := testClient.CoreV1().ConfigMaps(f.ns).Get(f.ctx, f.configMapName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap get err = %v, want NotFound", err)
	}
	if _, err := testClient.RbacV1().ClusterRoles().Get(f.ctx, f.clusterRoleName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("clusterrole get err = %v, want NotFound", err)
	}
	if n := f.storedRevisions(); n != 0 {
		t.Errorf("%d release secrets left", n)
	}
	if rel := f.get(); rel != nil {
		t.Errorf("get after uninstall = %+v", rel)
	}
	if err := f.m.Uninstall(f.ctx, f.ns, f.name); err != nil {
		t.Errorf("second uninstall: %v", err)
	}
	if err := f.m.Uninstall(f.ctx, "no-such-namespace", f.name); err != nil {
		t.Errorf("uninstall in a missing namespace: %v", err)
	}
	// The name can be installed again.
	wantRelease(t, f.install(nil, "d3"), 1, StatusDeployed, 1, "d3")
}
