// Tests of the checked-in OLM bundle and catalog: they are what `make bundle
// catalog` generates from config/, the operator-framework validators accept the
// bundle, and the catalog serves exactly that bundle. No network, no cluster.
package olm_test

import (
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/encoding"
	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
	"github.com/meshkeeper/meshkeeper/test/olm/bundlegen"
)

const root = "../.."

// render is `make bundle catalog` in memory, once per test binary.
func render(t *testing.T) *bundlegen.Rendered {
	t.Helper()
	v, err := bundlegen.MakefileVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bundlegen.Render(root, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBundleAndCatalogAreUpToDate(t *testing.T) {
	r := render(t)
	stale, err := bundlegen.Diff(root, r.Files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("bundle/ or catalog/ is stale relative to config/ and the Makefile's VERSION; run 'make bundle catalog' and commit:\n  %s",
			strings.Join(stale, "\n  "))
	}
}

// loadBundle reads bundle/ into the validators' Bundle the way
// manifests.GetBundleFromDir does. That loader itself is not used: it decodes
// each file twice through one YAMLOrJSONDecoder around a Seek(0), and with the
// apimachinery this module builds with (v0.37) the second decode returns EOF.
func loadBundle(t *testing.T) *manifests.Bundle {
	t.Helper()
	dir := filepath.Join(root, bundlegen.BundleRoot)
	b := &manifests.Bundle{}
	ann, err := os.ReadFile(filepath.Join(dir, bundlegen.MetadataDir, "annotations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var af manifests.AnnotationsFile
	if err := yaml.Unmarshal(ann, &af); err != nil {
		t.Fatalf("annotations.yaml: %v", err)
	}
	b.Package = af.Annotations.PackageName
	b.Channels = strings.Split(af.Annotations.Channels, ",")
	b.DefaultChannel = af.Annotations.DefaultChannelName

	entries, err := os.ReadDir(filepath.Join(dir, bundlegen.ManifestsDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("manifests/ may hold only files: %s", e.Name())
		}
		data, err := os.ReadFile(filepath.Join(dir, bundlegen.ManifestsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := bundlegen.DecodeYAML(data)
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: want one object: %d, %v", e.Name(), len(objs), err)
		}
		b.Objects = append(b.Objects, objs[0])
		switch objs[0].GetKind() {
		case "ClusterServiceVersion":
			if b.CSV != nil {
				t.Fatal("two CSVs")
			}
			b.CSV = &operatorsv1alpha1.ClusterServiceVersion{}
			if err := yaml.UnmarshalStrict(data, b.CSV); err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			b.Name = b.CSV.Name
		case "CustomResourceDefinition":
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(data, crd); err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			b.V1CRDs = append(b.V1CRDs, crd)
		}
	}
	if b.CSV == nil {
		t.Fatal("no CSV in bundle/manifests")
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		gz, err := encoding.GzipBase64Encode(data)
		b.Size += int64(len(data))
		b.CompressedSize += int64(len(gz))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The validators `operator-sdk bundle validate --select-optional
// suite=operatorframework` runs, by name: the OLM bundle validators, the
// OperatorHub ones and good practices. Every warning fails the test too, except
// the deprecation notice of the legacy OperatorHub validator, which is run for
// completeness alongside its replacements.
var validators = []struct {
	name string
	v    interfaces.Validator
}{
	{"csv", validation.ClusterServiceVersionValidator},
	{"crd", validation.CustomResourceDefinitionValidator},
	{"bundle", validation.BundleValidator},
	{"operatorhub/v2", validation.OperatorHubV2Validator},
	{"operatorhub (legacy)", validation.OperatorHubValidator},
	{"standardcategories", validation.StandardCategoriesValidator},
	{"standardcapabilities", validation.StandardCapabilitiesValidator},
	{"good-practices", validation.GoodPracticesValidator},
	{"alpha-deprecated-apis", validation.AlphaDeprecatedAPIsValidator},
	{"object", validation.ObjectValidator},
}

func TestOperatorFrameworkValidators(t *testing.T) {
	b := loadBundle(t)
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": "1.30"})
	for _, v := range validators {
		t.Run(v.name, func(t *testing.T) {
			for _, res := range v.v.Validate(objs...) {
				for _, e := range res.Errors {
					t.Errorf("%s: error: %s", res.Name, e)
				}
				for _, w := range res.Warnings {
					if w.Type == errors.ErrorDeprecatedValidator {
						t.Logf("%s: %s", res.Name, w)
						continue
					}
					t.Errorf("%s: warning: %s", res.Name, w)
				}
			}
		})
	}
}

func TestBundleFacts(t *testing.T) {
	b := loadBundle(t)
	csv := b.CSV
	v, err := bundlegen.MakefileVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := csv.Spec.Version.String(); got != v {
		t.Errorf("CSV version %s, Makefile VERSION %s", got, v)
	}
	if csv.Name != "meshkeeper.v"+v {
		t.Errorf("CSV name %s", csv.Name)
	}
	if b.Package != "" && b.Package != "meshkeeper" {
		t.Errorf("package %q", b.Package)
	}
	if !slices.Equal(b.Channels, []string{"stable", "candidate"}) || b.DefaultChannel != "stable" {
		t.Errorf("channels %v default %q", b.Channels, b.DefaultChannel)
	}
	modes := map[string]bool{}
	for _, m := range csv.Spec.InstallModes {
		modes[string(m.Type)] = m.Supported
	}
	want := map[string]bool{"AllNamespaces": true, "OwnNamespace": true, "SingleNamespace": false, "MultiNamespace": false}
	if !reflect.DeepEqual(modes, want) {
		t.Errorf("install modes %v, want %v", modes, want)
	}
	if csv.Spec.MinKubeVersion != "1.30.0" {
		t.Errorf("minKubeVersion %q", csv.Spec.MinKubeVersion)
	}
	if got := csv.Annotations["capabilities"]; got != "Full Lifecycle" {
		t.Errorf("capabilities %q", got)
	}
	if got := csv.Annotations["categories"]; got != "Networking, Security" {
		t.Errorf("categories %q", got)
	}
	if got := csv.Annotations["operatorframework.io/suggested-namespace"]; got != bundlegen.InstallNamespace {
		t.Errorf("suggested namespace %q", got)
	}
	image := "ghcr.io/meshkeeper/manager:" + v
	if got := csv.Annotations["containerImage"]; got != image {
		t.Errorf("containerImage %q", got)
	}
	deps := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deps) != 1 || deps[0].Spec.Template.Spec.Containers[0].Image != image {
		t.Errorf("the install strategy does not run %s: %+v", image, deps)
	}
	for _, kw := range []string{"service mesh", "mtls", "linkerd", "istio", "upgrades", "certificates"} {
		if !slices.Contains(csv.Spec.Keywords, kw) {
			t.Errorf("keyword %q missing", kw)
		}
	}
	// The Role for Secrets is a namespaced permission: OLM grants it in the
	// install namespace, which is why the bundle suggests meshkeeper-system.
	var secrets bool
	for _, p := range csv.Spec.InstallStrategy.StrategySpec.Permissions {
		for _, r := range p.Rules {
			secrets = secrets || slices.Contains(r.Resources, "secrets")
		}
	}
	for _, p := range csv.Spec.InstallStrategy.StrategySpec.ClusterPermissions {
		for _, r := range p.Rules {
			if slices.Contains(r.Resources, "secrets") {
				t.Errorf("secrets are a cluster-wide permission: %+v", r)
			}
		}
	}
	if !secrets {
		t.Error("no namespaced permission for secrets")
	}
}

func TestRelatedImagesListEveryMeshRelease(t *testing.T) {
	csv := loadBundle(t).CSV
	var got []string
	for _, ri := range csv.Spec.RelatedImages {
		got = append(got, ri.Image)
	}
	for _, v := range versions.Supported() {
		r, _ := versions.Lookup(v)
		cp, proxy, initc := r.Images("")
		for _, img := range []string{cp, proxy, initc} {
			if !slices.Contains(got, img) {
				t.Errorf("relatedImages lack %s (mesh %s): %v", img, v, got)
			}
		}
	}
	if !slices.Contains(got, csv.Annotations["containerImage"]) {
		t.Errorf("relatedImages lack the manager image")
	}
}

// schemaAt walks a dotted descriptor path through an OpenAPI schema.
func schemaAt(s apiextensionsv1.JSONSchemaProps, path string) (apiextensionsv1.JSONSchemaProps, bool) {
	for _, part := range strings.Split(path, ".") {
		if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
			s = *s.Items.Schema
		}
		p, ok := s.Properties[part]
		if !ok {
			return s, false
		}
		s = p
	}
	return s, true
}

// Descriptors are written by hand in config/manifests: each must name a field
// of the CRD, and (as scorecard's olm-spec/status-descriptors tests demand)
// every field of the examples' spec and every status field has one.
func TestDescriptorsMatchTheCRD(t *testing.T) {
	b := loadBundle(t)
	if len(b.V1CRDs) != 1 {
		t.Fatalf("want one CRD, have %d", len(b.V1CRDs))
	}
	crd := b.V1CRDs[0]
	var schema apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			schema = *v.Schema.OpenAPIV3Schema
		}
	}
	owned := b.CSV.Spec.CustomResourceDefinitions.Owned
	if len(owned) != 1 {
		t.Fatalf("owned CRDs: %+v", owned)
	}
	spec, status := map[string]bool{}, map[string]bool{}
	for _, d := range owned[0].SpecDescriptors {
		spec[d.Path] = true
		if _, ok := schemaAt(schema.Properties["spec"], d.Path); !ok {
			t.Errorf("spec descriptor %q: no such field in the CRD", d.Path)
		}
	}
	for _, d := range owned[0].StatusDescriptors {
		status[d.Path] = true
		if _, ok := schemaAt(schema.Properties["status"], d.Path); !ok {
			t.Errorf("status descriptor %q: no such field in the CRD", d.Path)
		}
	}
	for field := range schema.Properties["spec"].Properties {
		if !spec[field] {
			t.Errorf("spec.%s has no spec descriptor", field)
		}
	}
	for field := range schema.Properties["status"].Properties {
		if !status[field] {
			t.Errorf("status.%s has no status descriptor", field)
		}
	}
	var examples []map[string]any
	if err := json.Unmarshal([]byte(b.CSV.Annotations["alm-examples"]), &examples); err != nil {
		t.Fatalf("alm-examples: %v", err)
	}
	if len(examples) == 0 {
		t.Fatal("no alm-examples")
	}
	for _, ex := range examples {
		if ex["kind"] != owned[0].Kind || ex["apiVersion"] != crd.Spec.Group+"/"+owned[0].Version {
			t.Errorf("example of %v %v is not of the owned CRD", ex["apiVersion"], ex["kind"])
		}
		for field := range ex["spec"].(map[string]any) {
			if !spec[field] {
				t.Errorf("alm-example spec.%s has no spec descriptor", field)
			}
		}
	}
	if len(owned[0].Resources) == 0 {
		t.Error("the owned CRD lists no resources (scorecard olm-crds-have-resources)")
	}
}

type blob struct {
	Schema         string `json:"schema"`
	Name           string `json:"name"`
	Package        string `json:"package"`
	DefaultChannel string `json:"defaultChannel"`
	Image          string `json:"image"`
	Entries        []bundlegen.ChannelEntry
	Properties     []struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	} `json:"properties"`
}

// The catalog is checked the way opm and OLM read it: one package whose default
// channel exists, channels whose entries are bundles of the catalog, and a
// bundle blob that embeds exactly the manifests of bundle/.
func TestCatalogServesTheBundle(t *testing.T) {
	dir := filepath.Join(root, bundlegen.CatalogRoot, bundlegen.Package)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalog files in %s: %v", dir, err)
	}
	var blobs []blob
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := bundlegen.DecodeYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			var b blob
			raw, _ := json.Marshal(o.Object)
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Fatal(err)
			}
			blobs = append(blobs, b)
		}
	}
	pkgs, channels, bundles := map[string]blob{}, map[string]blob{}, map[string]blob{}
	for _, b := range blobs {
		switch b.Schema {
		case bundlegen.SchemaPackage:
			pkgs[b.Name] = b
		case bundlegen.SchemaChannel:
			channels[b.Name] = b
		case bundlegen.SchemaBundle:
			bundles[b.Name] = b
		default:
			t.Errorf("unexpected schema %q", b.Schema)
		}
	}
	pkg, ok := pkgs["meshkeeper"]
	if len(pkgs) != 1 || !ok {
		t.Fatalf("packages: %v", pkgs)
	}
	if _, ok := channels[pkg.DefaultChannel]; !ok {
		t.Errorf("default channel %q is not a channel", pkg.DefaultChannel)
	}
	for name, ch := range channels {
		if ch.Package != "meshkeeper" || len(ch.Entries) == 0 {
			t.Errorf("channel %s: package %q, %d entries", name, ch.Package, len(ch.Entries))
		}
		for _, e := range ch.Entries {
			if _, ok := bundles[e.Name]; !ok {
				t.Errorf("channel %s: entry %s is not a bundle of the catalog", name, e.Name)
			}
		}
	}
	bundle := loadBundle(t)
	for _, ch := range []string{"stable", "candidate"} {
		entries := channels[ch].Entries
		if len(entries) == 0 || entries[len(entries)-1].Name != bundle.CSV.Name {
			t.Errorf("channel %s: head is not %s: %+v", ch, bundle.CSV.Name, entries)
			continue
		}
		if got := entries[len(entries)-1].Replaces; got != bundle.CSV.Spec.Replaces {
			t.Errorf("channel %s replaces %q, the CSV %q", ch, got, bundle.CSV.Spec.Replaces)
		}
	}

	b, ok := bundles[bundle.CSV.Name]
	if !ok {
		t.Fatalf("no olm.bundle %s", bundle.CSV.Name)
	}
	var embedded []map[string]any
	for _, p := range b.Properties {
		if p.Type != "olm.bundle.object" {
			continue
		}
		var v struct{ Data string }
		if err := json.Unmarshal(p.Value, &v); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(v.Data)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		embedded = append(embedded, obj)
	}
	if len(embedded) != len(bundle.Objects) {
		t.Fatalf("the catalog embeds %d objects, bundle/manifests has %d", len(embedded), len(bundle.Objects))
	}
	for _, want := range bundle.Objects {
		var norm map[string]any // numbers as JSON decodes them
		raw, _ := json.Marshal(want.Object)
		if err := json.Unmarshal(raw, &norm); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, got := range embedded {
			found = found || reflect.DeepEqual(got, norm)
		}
		if !found {
			t.Errorf("%s %s of bundle/manifests is not embedded in the catalog", want.GetKind(), want.GetName())
		}
	}
}

// The validators are not a no-op here: a bundle with OperatorHub mistakes fails.
func TestValidatorsCatchABrokenBundle(t *testing.T) {
	b := loadBundle(t)
	b.CSV.Annotations["categories"] = "Networking, Wizardry"
	b.CSV.Annotations["capabilities"] = "Omniscient"
	b.CSV.Spec.Maintainers[0].Email = "not-an-email"
	b.CSV.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0].Spec.Template.Spec.Containers[0].Resources.Requests = nil
	b.Channels = []string{"beta"}
	want := map[string]string{
		"standardcategories":   "Wizardry",
		"standardcapabilities": "Omniscient",
		"operatorhub/v2":       "not-an-email",
		"good-practices":       "beta",
	}
	objs := b.ObjectsToValidate()
	for _, v := range validators {
		substr, ok := want[v.name]
		if !ok {
			continue
		}
		var all []string
		for _, res := range v.v.Validate(objs...) {
			for _, e := range append(res.Errors, res.Warnings...) {
				all = append(all, e.Error())
			}
		}
		if !strings.Contains(strings.Join(all, "\n"), substr) {
			t.Errorf("%s did not report %q: %v", v.name, substr, all)
		}
	}
}
