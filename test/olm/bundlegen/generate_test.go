package bundlegen

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestReplaces(t *testing.T) {
	for _, tc := range []struct {
		v    string
		prev []string
		want string
	}{
		{"0.1.0", nil, ""},
		{"0.1.0", []string{"0.1.0"}, ""},
		{"0.2.0", []string{"0.1.0"}, "0.1.0"},
		{"0.3.0", []string{"0.1.0", "0.2.1", "0.2.0", "0.4.0"}, "0.2.1"},
		{"1.0.0", []string{"1.0.0-rc.1", "0.9.0"}, "1.0.0-rc.1"},
	} {
		got, err := Replaces(tc.v, tc.prev)
		if err != nil || got != tc.want {
			t.Errorf("Replaces(%s, %v) = %q, %v; want %q", tc.v, tc.prev, got, err, tc.want)
		}
	}
	if _, err := Replaces("v0.1", nil); err == nil {
		t.Error("a version that is not semver is accepted")
	}
}

func TestChannelEntries(t *testing.T) {
	got, err := ChannelEntries("p", []string{"stable", "candidate"}, []string{"0.2.0", "0.1.0", "0.3.0-rc.1", "0.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]ChannelEntry{
		"stable": {
			{Name: "p.v0.1.0"},
			{Name: "p.v0.2.0", Replaces: "p.v0.1.0", SkipRange: "<0.2.0"},
		},
		"candidate": {
			{Name: "p.v0.1.0"},
			{Name: "p.v0.2.0", Replaces: "p.v0.1.0", SkipRange: "<0.2.0"},
			{Name: "p.v0.3.0-rc.1", Replaces: "p.v0.2.0", SkipRange: "<0.3.0-rc.1"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := ChannelEntries("p", []string{"stable"}, []string{"0.1.0-rc.1"}); err == nil {
		t.Error("an empty stable channel is accepted")
	}
}

// A minimal operator as kustomize renders it.
const operator = `
apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata: {name: x.v0.0.0, namespace: placeholder}
spec:
  displayName: x
  install: {strategy: deployment}
  customresourcedefinitions:
    owned:
      - {name: things.example.com, version: v1, kind: Thing, displayName: Thing, description: A thing.}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  group: example.com
  names: {kind: Thing, plural: things}
  scope: Cluster
  versions:
    - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
---
apiVersion: example.com/v1
kind: Thing
metadata: {name: sample}
spec: {size: 1}
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cluster}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cluster}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster}
subjects: [{kind: ServiceAccount, name: sa, namespace: ns}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secrets, namespace: ns}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secrets, namespace: ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets}
subjects: [{kind: ServiceAccount, name: sa, namespace: ns}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: viewer}
rules: [{apiGroups: [example.com], resources: [things], verbs: [get]}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics, namespace: ns}
spec: {ports: [{port: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: manager, namespace: ns, labels: {app: x}}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      serviceAccountName: sa
      containers: [{name: manager, image: "x:latest"}]
`

func opts() Options {
	return Options{
		Package: "x", Version: "0.2.0", Previous: []string{"0.1.0"},
		Image: "reg/x:0.2.0", BundleImage: "reg/x-bundle:v0.2.0", ManagerContainer: "manager",
		Channels: []string{"stable", "candidate"}, DefaultChannel: "stable", InstallNamespace: "ns",
		Icon: []byte("<svg/>"), IconMediaType: "image/svg+xml",
		RelatedImages: []RelatedImage{{Name: "proxy", Image: "reg/proxy:1"}},
	}
}

func decode(t *testing.T, s string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := DecodeYAML([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestGenerate(t *testing.T) {
	b, err := Generate(decode(t, operator), opts())
	if err != nil {
		t.Fatal(err)
	}
	csv := b.CSV
	if csv.Name != "x.v0.2.0" || csv.Namespace != "" || csv.Spec.Replaces != "x.v0.1.0" || csv.Annotations["olm.skipRange"] != "<0.2.0" {
		t.Errorf("name %q namespace %q replaces %q skipRange %q", csv.Name, csv.Namespace, csv.Spec.Replaces, csv.Annotations["olm.skipRange"])
	}
	s := csv.Spec.InstallStrategy.StrategySpec
	if len(s.DeploymentSpecs) != 1 || s.DeploymentSpecs[0].Spec.Template.Spec.Containers[0].Image != "reg/x:0.2.0" {
		t.Errorf("deployments %+v", s.DeploymentSpecs)
	}
	if len(s.ClusterPermissions) != 1 || s.ClusterPermissions[0].ServiceAccountName != "sa" || s.ClusterPermissions[0].Rules[0].Resources[0] != "pods" {
		t.Errorf("clusterPermissions %+v", s.ClusterPermissions)
	}
	if len(s.Permissions) != 1 || s.Permissions[0].Rules[0].Resources[0] != "secrets" {
		t.Errorf("permissions %+v", s.Permissions)
	}
	if got := csv.Spec.CustomResourceDefinitions.Owned; len(got) != 1 || got[0].Kind != "Thing" {
		t.Errorf("owned %+v", got)
	}
	if !strings.Contains(csv.Annotations["alm-examples"], `"name": "sample"`) {
		t.Errorf("alm-examples %s", csv.Annotations["alm-examples"])
	}
	if len(csv.Spec.RelatedImages) != 2 || csv.Spec.RelatedImages[1].Image != "reg/proxy:1" {
		t.Errorf("relatedImages %+v", csv.Spec.RelatedImages)
	}
	var files []string
	for f := range b.Files {
		files = append(files, f)
	}
	for _, want := range []string{
		"manifests/x.clusterserviceversion.yaml",
		"manifests/example.com_things.yaml",
		"manifests/viewer_rbac.authorization.k8s.io_v1_clusterrole.yaml",
		"manifests/metrics_v1_service.yaml",
		"metadata/annotations.yaml",
	} {
		if _, ok := b.Files[want]; !ok {
			t.Errorf("no %s in %v", want, files)
		}
	}
	if len(b.Files) != 5 {
		t.Errorf("files %v", files)
	}
	if strings.Contains(string(b.Files["manifests/metrics_v1_service.yaml"]), "namespace") {
		t.Error("the Service keeps its namespace; OLM puts it in the install namespace")
	}
	if b.Annotations["operators.operatorframework.io.bundle.channels.v1"] != "stable,candidate" ||
		!strings.Contains(string(b.Dockerfile), "LABEL operators.operatorframework.io.bundle.channel.default.v1=stable\n") {
		t.Errorf("annotations %v\n%s", b.Annotations, b.Dockerfile)
	}

	again, err := Generate(decode(t, operator), opts())
	if err != nil || !reflect.DeepEqual(again.Files, b.Files) {
		t.Error("two runs differ")
	}
}

func TestGenerateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, edit, with, want string
	}{
		{"a Role outside the install namespace", "kind: Role\nmetadata: {name: secrets, namespace: ns}", "kind: Role\nmetadata: {name: secrets, namespace: other}", "install namespace"},
		{"an unknown kind", "kind: Service\n", "kind: ValidatingWebhookConfiguration\n", "no OLM bundle mapping"},
		{"an undescribed CRD", "metadata: {name: things.example.com}", "metadata: {name: others.example.com}", "not described"},
		{"a foreign subject", "subjects: [{kind: ServiceAccount, name: sa, namespace: ns}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role", "subjects: [{kind: User, name: bob}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role", "not one of the operator's service accounts"},
		{"no manager container", "containers: [{name: manager,", "containers: [{name: other,", `no container "manager"`},
	} {
		in := strings.Replace(operator, tc.edit, tc.with, 1)
		if in == operator {
			t.Fatalf("%s: the edit does not apply", tc.name)
		}
		_, err := Generate(decode(t, in), opts())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCatalog(t *testing.T) {
	b, err := Generate(decode(t, operator), opts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := Catalog(b, opts())
	if err != nil {
		t.Fatal(err)
	}
	pkg, bundle := string(files[PackageFile]), string(files[BundleFile("x.v0.2.0")])
	for _, want := range []string{"schema: olm.package", "defaultChannel: stable", "schema: olm.channel", "replaces: x.v0.1.0", "skipRange: <0.2.0"} {
		if !strings.Contains(pkg, want) {
			t.Errorf("package.yaml lacks %q:\n%s", want, pkg)
		}
	}
	for _, want := range []string{"schema: olm.bundle", "image: reg/x-bundle:v0.2.0", "type: olm.gvk", "type: olm.package", "type: olm.bundle.object"} {
		if !strings.Contains(bundle, want) {
			t.Errorf("bundle blob lacks %q", want)
		}
	}
	if n := strings.Count(bundle, "type: olm.bundle.object"); n != len(b.Objects) {
		t.Errorf("%d objects embedded, the bundle has %d", n, len(b.Objects))
	}
}
