package helm

import (
	"bytes"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
)

const testChartDir = "testdata/testchart"

// mapFS copies the test chart into an in-memory FS under dir, so tests can
// modify it.
func mapFS(t *testing.T, dir string) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	src := os.DirFS(testChartDir)
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		out[dir+"/"+p] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadChartAndDigest(t *testing.T) {
	a, err := LoadChart(os.DirFS(testChartDir), ".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadChart(os.DirFS("testdata"), "testchart")
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() != "0.1.0" || a.Name() != "testchart" {
		t.Errorf("name/version = %s/%s, want testchart/0.1.0", a.Name(), a.Version())
	}
	if len(a.Digest()) != 64 {
		t.Errorf("digest %q is not a sha256 hex", a.Digest())
	}
	if a.Digest() != b.Digest() {
		t.Errorf("digest differs across loads: %s vs %s", a.Digest(), b.Digest())
	}
	// The helpers file (underscore, not rendered) is part of the chart.
	var helpers bool
	for _, tpl := range a.chart.Templates {
		helpers = helpers || tpl.Name == "templates/_helpers.tpl"
	}
	if !helpers {
		t.Error("templates/_helpers.tpl not loaded")
	}

	m := mapFS(t, "charts/test")
	c, err := LoadChart(m, "charts/test")
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest() != a.Digest() {
		t.Errorf("same files, different digest: %s vs %s", c.Digest(), a.Digest())
	}

	for name, mutate := range map[string]func(fstest.MapFS){
		"template changed": func(m fstest.MapFS) {
			f := m["charts/test/templates/configmap.yaml"]
			f.Data = append(bytes.Clone(f.Data), []byte("  extra: x\n")...)
		},
		"values changed": func(m fstest.MapFS) {
			m["charts/test/values.yaml"].Data = []byte("greeting: bye\nverbs: [get]\n")
		},
		"file added": func(m fstest.MapFS) {
			m["charts/test/templates/extra.yaml"] = &fstest.MapFile{Data: []byte("# nothing\n")}
		},
		"file renamed": func(m fstest.MapFS) {
			m["charts/test/templates/cm.yaml"] = m["charts/test/templates/configmap.yaml"]
			delete(m, "charts/test/templates/configmap.yaml")
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := mapFS(t, "charts/test")
			mutate(m)
			d, err := LoadChart(m, "charts/test")
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest() == a.Digest() {
				t.Errorf("digest unchanged after %s", name)
			}
		})
	}

	if _, err := LoadChart(os.DirFS("testdata"), "missing"); err == nil {
		t.Error("loading a missing directory succeeded")
	}
}

func TestOwnerPostRenderer(t *testing.T) {
	in := `---
# Source: x/templates/a.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  namespace: ns
  labels:
    keep: me
    mesh.meshkeeper.io/installation: stale
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: other
    uid: other-uid
    controller: true
  - apiVersion: v1
    kind: Secret
    name: plain
    uid: plain-uid
---
# only a comment
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: b
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: c
`
	owner := Owner{
		APIVersion: "mesh.meshkeeper.io/v1alpha1", Kind: "MeshInstallation", Name: "default", UID: "owner-uid",
		Labels: map[string]string{"mesh.meshkeeper.io/installation": "default"},
	}
	out, err := ownerPostRenderer{owner: owner}.Run(bytes.NewBufferString(in))
	if err != nil {
		t.Fatal(err)
	}
	rendered := out.String()
	objs, err := parseManifest(strings.NewReader(rendered))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("got %d objects, want 3:\n%s", len(objs), out)
	}
	cm, cr := objs[0], objs[1]
	if got := cm.GetLabels(); got["keep"] != "me" || got["mesh.meshkeeper.io/installation"] != "default" {
		t.Errorf("configmap labels = %v", got)
	}
	refs := cm.GetOwnerReferences()
	if len(refs) != 2 || refs[0].UID != "owner-uid" || refs[1].UID != "plain-uid" {
		t.Fatalf("configmap ownerReferences = %+v, want the owner (controller) and the plain one", refs)
	}
	if refs[0].Controller == nil || !*refs[0].Controller || refs[0].BlockOwnerDeletion == nil || !*refs[0].BlockOwnerDeletion {
		t.Errorf("owner reference flags = %+v", refs[0])
	}
	if cr.GetLabels()["mesh.meshkeeper.io/installation"] != "default" || len(cr.GetOwnerReferences()) != 1 {
		t.Errorf("cluster-scoped object not decorated: %v", cr.Object)
	}
	list, err := objs[2].ToList()
	if err != nil || len(list.Items) != 1 || len(list.Items[0].GetOwnerReferences()) != 1 ||
		list.Items[0].GetLabels()["mesh.meshkeeper.io/installation"] != "default" {
		t.Fatalf("list items not decorated: %v (%v)", objs[2].Object, err)
	}
	if strings.Count(rendered, "owner-uid") != 3 {
		t.Errorf("want 3 owner references in output:\n%s", rendered)
	}

	// No UID: labels only.
	out, err = ownerPostRenderer{owner: Owner{Labels: map[string]string{"a": "b"}}}.Run(bytes.NewBufferString(in))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "owner-uid") {
		t.Errorf("owner reference added without a UID:\n%s", out)
	}

	if _, err := (ownerPostRenderer{}).Run(bytes.NewBufferString("metadata:\n  name: x\n")); err == nil {
		t.Error("object without kind accepted")
	}
}

func TestRenderManifest(t *testing.T) {
	c, err := LoadChart(os.DirFS(testChartDir), ".")
	if err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: "r", Namespace: "ns", Revision: 1, IsInstall: true}
	caps := chartutil.DefaultCapabilities
	owner := ownerPostRenderer{owner: Owner{Name: "o", UID: "u", Kind: "K", APIVersion: "v1"}}

	out, err := renderManifest(nil, c.helmChart(), map[string]any{"greeting": "hi"}, opts, caps, owner)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseManifest(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2 (NOTES.txt and the empty fail.yaml excluded):\n%s", len(objs), out)
	}

	_, err = renderManifest(nil, c.helmChart(), map[string]any{"fail": true}, opts, caps, owner)
	if err == nil || !strings.Contains(err.Error(), "rendering refused") {
		t.Fatalf("err = %v, want the chart's fail message", err)
	}
	// The shared chart is untouched by renders.
	if c.chart.Values["greeting"] != "hello" {
		t.Errorf("chart values mutated: %v", c.chart.Values)
	}
}

func TestFromHistory(t *testing.T) {
	rel := func(v int, st release.Status, digest string) *release.Release {
		return &release.Release{
			Name: "r", Namespace: "ns", Version: v,
			Info:   &release.Info{Status: st, Description: string(st)},
			Chart:  &chart.Chart{Metadata: &chart.Metadata{Version: "1.2.3"}},
			Labels: map[string]string{DigestLabel: digest},
		}
	}
	for _, tc := range []struct {
		name         string
		history      []*release.Release
		wantRev      int
		wantStatus   Status
		wantDeployed int
		wantDigest   string
	}{
		{name: "empty"},
		{name: "first install", history: []*release.Release{rel(1, release.StatusDeployed, "a")},
			wantRev: 1, wantStatus: StatusDeployed, wantDeployed: 1, wantDigest: "a"},
		{name: "failed upgrade, unsorted", history: []*release.Release{
			rel(3, release.StatusFailed, "c"), rel(1, release.StatusSuperseded, "a"), rel(2, release.StatusDeployed, "b")},
			wantRev: 3, wantStatus: StatusFailed, wantDeployed: 2, wantDigest: "c"},
		{name: "superseded counts", history: []*release.Release{
			rel(4, release.StatusPendingUpgrade, "d"), rel(3, release.StatusSuperseded, "c"), rel(2, release.StatusFailed, "b")},
			wantRev: 4, wantStatus: StatusPendingUpgrade, wantDeployed: 3, wantDigest: "d"},
		{name: "never deployed", history: []*release.Release{rel(1, release.StatusPendingInstall, "")},
			wantRev: 1, wantStatus: StatusPendingInstall, wantDeployed: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromHistory(tc.history)
			if tc.wantRev == 0 {
				if got != nil {
					t.Fatalf("got %+v, want nil", got)
				}
				return
			}
			if got.Revision != tc.wantRev || got.Status != tc.wantStatus ||
				got.LastDeployedRevision != tc.wantDeployed || got.Digest != tc.wantDigest ||
				got.ChartVersion != "1.2.3" || got.Description != string(tc.wantStatus) {
				t.Errorf("got %+v", got)
			}
		})
	}
	if !StatusPendingRollback.IsPending() || StatusUninstalling.IsPending() || StatusFailed.IsPending() {
		t.Error("IsPending wrong")
	}
}
