package release

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

var update = flag.Bool("update", false, "rewrite golden files")

func baseInstallation() *meshv1.MeshInstallation {
	return &meshv1.MeshInstallation{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"},
		Spec: meshv1.MeshInstallationSpec{
			Version:      "0.1.0",
			ControlPlane: meshv1.ControlPlaneSpec{Namespace: "meshkeeper-system", Replicas: ptr.To[int32](1)},
			Trust:        meshv1.TrustSpec{TrustDomain: "cluster.local"},
			DataPlane:    meshv1.DataPlaneSpec{MTLSMode: meshv1.MTLSPermissive},
		},
	}
}

func TestValuesGolden(t *testing.T) {
	rel, err := versions.Lookup("0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(mi *meshv1.MeshInstallation){
		"defaults": func(*meshv1.MeshInstallation) {},
		"replicas-resources-strict": func(mi *meshv1.MeshInstallation) {
			mi.Spec.ControlPlane.Replicas = ptr.To[int32](3)
			mi.Spec.DataPlane.MTLSMode = meshv1.MTLSStrict
			mi.Spec.ControlPlane.Resources = &corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			}
		},
		"namespace-selector": func(mi *meshv1.MeshInstallation) {
			mi.Spec.DataPlane.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}
			// The spec alone decides which namespaces are meshed.
			mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{"injector": {"namespaceSelector": "{}"}}`)}
		},
		"user-values-cannot-set-a-namespace-selector": func(mi *meshv1.MeshInstallation) {
			mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{"injector": {"namespaceSelector": "{}"}}`)}
		},
		"cni": func(mi *meshv1.MeshInstallation) {
			mi.Spec.DataPlane.Redirect = meshv1.RedirectCNI
			mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{"cni": {"binDir": "/usr/lib/cni", "enabled": false}}`)}
		},
		"user-values-cannot-enable-cni": func(mi *meshv1.MeshInstallation) {
			mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{"cni": {"enabled": true, "confDir": "/etc/cni/net.d"}}`)}
		},
		"user-values-cannot-change-identity-keys": func(mi *meshv1.MeshInstallation) {
			mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{
				"identity": {"leafTTL": "1m"},
				"proxy": {"env": {"MESHKEEPER_FAULT_FAILURE_RATE": "0.5"}},
				"trustDomain": "evil.example", "installation": "other",
				"injector": {"caBundle": "Zm9v", "failurePolicy": "Fail"}}`)}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			mi := baseInstallation()
			mutate(mi)
			vals, err := Values(mi, rel, []byte("CA-PEM"))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(vals, "", "  ")
			golden := filepath.Join("testdata", "values-"+name+".json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(want) != string(got)+"\n" {
				t.Fatalf("values differ from %s:\n%s", golden, got)
			}
		})
	}
}

func TestValuesRejectsNonObject(t *testing.T) {
	mi := baseInstallation()
	mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`[1,2]`)}
	rel, _ := versions.Lookup("0.1.0")
	if _, err := Values(mi, rel, nil); err == nil {
		t.Fatal("a list accepted as values")
	}
}

func TestValuesCheckLeafTTL(t *testing.T) {
	rel, _ := versions.Lookup("0.1.0")
	for raw, ok := range map[string]bool{"24h": true, "168h": true, "1m": true, "169h": false, "30s": false, "1y": false} {
		mi := baseInstallation()
		mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(`{"identity":{"leafTTL":"` + raw + `"}}`)}
		if _, err := Values(mi, rel, nil); (err == nil) != ok {
			t.Errorf("leafTTL %s: err = %v, want accepted=%v", raw, err, ok)
		}
	}
}

// Every shipped release has the CNI plugin and accepts CNI; a release
// without it refuses CNI, naming the field; InitContainer (or unset) renders
// the same values as before.
func TestValuesCheckRedirect(t *testing.T) {
	for _, name := range versions.Supported() {
		v, err := versions.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if !v.CNIPlugin {
			t.Errorf("%s: shipped without the CNI plugin", v.Version)
		}
		mi := baseInstallation()
		before, err := Values(mi, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		mi.Spec.DataPlane.Redirect = meshv1.RedirectInitContainer
		if after, err := Values(mi, v, nil); err != nil || !reflect.DeepEqual(before, after) {
			t.Errorf("%s: InitContainer changed the values (%v)", v.Version, err)
		}
		mi.Spec.DataPlane.Redirect = meshv1.RedirectCNI
		withoutPlugin := v
		withoutPlugin.CNIPlugin = false
		if _, err := Values(mi, withoutPlugin, nil); err == nil || !strings.Contains(err.Error(), "spec.dataPlane.redirect CNI") {
			t.Errorf("%s: CNI without the plugin: err = %v", v.Version, err)
		}
		vals, err := Values(mi, v, nil)
		if err != nil {
			t.Fatalf("%s with the plugin: CNI refused: %v", v.Version, err)
		}
		cni, _ := vals["cni"].(map[string]any)
		images, _ := vals["images"].(map[string]any)
		if cni["enabled"] != true || images["cni"] != "ghcr.io/meshkeeper/cni:"+v.ProxyTag {
			t.Errorf("%s: CNI values cni=%v images=%v", v.Version, cni, images)
		}
	}
}

func TestDigestStableAndSensitive(t *testing.T) {
	a, _ := Digest("chart", map[string]any{"x": 1, "y": map[string]any{"z": "a"}})
	b, _ := Digest("chart", map[string]any{"y": map[string]any{"z": "a"}, "x": 1})
	c, _ := Digest("chart", map[string]any{"x": 2, "y": map[string]any{"z": "a"}})
	d, _ := Digest("chart2", map[string]any{"x": 1, "y": map[string]any{"z": "a"}})
	if a != b || a == c || a == d || len(a) > 63 {
		t.Fatalf("digests a=%s b=%s c=%s d=%s", a, b, c, d)
	}
}
