package bundlegen

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Bundle layout and metadata, as `operator-sdk generate bundle` writes them.
const (
	ManifestsDir = "manifests/"
	MetadataDir  = "metadata/"
	ScorecardDir = "tests/scorecard/"
	mediaType    = "registry+v1"
	layout       = "go.kubebuilder.io/v4"
	builder      = "meshkeeper-bundlegen"
)

// RelatedImage is an image the operator runs or deploys.
type RelatedImage struct {
	Name  string
	Image string
}

// Options are the facts about one operator release that are not in config/.
type Options struct {
	// Package is the OLM package name; the CSV is <Package>.v<Version>.
	Package string
	// Version is the operator (and bundle) version, semver without a leading v.
	Version string
	// Previous are the operator versions released before, in any order; the
	// newest one older than Version is what this bundle replaces.
	Previous []string
	// Image is the manager image; BundleImage the image of this bundle.
	Image       string
	BundleImage string
	// ManagerContainer is the name of the container that runs Image.
	ManagerContainer string
	// Channels lists the bundle's channels; DefaultChannel is one of them.
	Channels       []string
	DefaultChannel string
	// InstallNamespace is the namespace the operator is installed in. OLM creates
	// the CSV's namespaced permissions there, so every Role must be written for it.
	InstallNamespace string
	// Icon and IconMediaType are the CSV's (and the catalog package's) icon.
	Icon          []byte
	IconMediaType string
	// RelatedImages are the images beyond the manager's, e.g. every mesh release's.
	RelatedImages []RelatedImage
}

// Bundle is a generated bundle: Files are relative to the bundle directory.
type Bundle struct {
	Name       string
	Files      map[string][]byte
	Dockerfile []byte
	CSV        *operatorsv1alpha1.ClusterServiceVersion
	// Annotations are metadata/annotations.yaml's.
	Annotations map[string]string
	// Objects are the manifests in manifests/, in file-name order.
	Objects []*unstructured.Unstructured
}

// CSVName is the ClusterServiceVersion name of a version of a package.
func CSVName(pkg, v string) string { return pkg + ".v" + v }

// Replaces returns the newest of previous that is older than v, or "".
func Replaces(v string, previous []string) (string, error) {
	cur, err := semver.Parse(v)
	if err != nil {
		return "", fmt.Errorf("version %q: %w", v, err)
	}
	var best *semver.Version
	for _, p := range previous {
		pv, err := semver.Parse(p)
		if err != nil {
			return "", fmt.Errorf("previous version %q: %w", p, err)
		}
		if pv.LT(cur) && (best == nil || pv.GT(*best)) {
			best = &pv
		}
	}
	if best == nil {
		return "", nil
	}
	return best.String(), nil
}

// sorted is what Generate makes of the kustomize output.
type sorted struct {
	base        *unstructured.Unstructured
	crds        []*apiextensionsv1.CustomResourceDefinition
	samples     []*unstructured.Unstructured
	scorecard   *unstructured.Unstructured
	deployments []*unstructured.Unstructured
	sas         map[string]bool
	roles       map[string]*unstructured.Unstructured // "Kind/name"
	bindings    []*unstructured.Unstructured
	extra       []*unstructured.Unstructured // copied into manifests/ as they are
	namespaces  []string
}

func kindName(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }

func sortObjects(objs []*unstructured.Unstructured) (*sorted, error) {
	s := &sorted{sas: map[string]bool{}, roles: map[string]*unstructured.Unstructured{}}
	// CRDs first, so that samples are recognised by their kind.
	owned := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := convert(o.Object, &crd); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", o.GetName(), err)
		}
		s.crds = append(s.crds, &crd)
		owned[crd.Spec.Group+"/"+crd.Spec.Names.Kind] = true
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		switch {
		case gvk.Kind == "CustomResourceDefinition":
		case gvk.Kind == "ClusterServiceVersion" && gvk.Group == "operators.coreos.com":
			if s.base != nil {
				return nil, fmt.Errorf("two ClusterServiceVersion bases: %s and %s", s.base.GetName(), o.GetName())
			}
			s.base = o
		case gvk.Kind == "Configuration" && gvk.Group == "scorecard.operatorframework.io":
			s.scorecard = o
		case owned[gvk.Group+"/"+gvk.Kind]:
			s.samples = append(s.samples, o)
		case gvk.Group == "" && gvk.Kind == "Namespace":
			// OLM installs into the OperatorGroup's namespace.
			s.namespaces = append(s.namespaces, o.GetName())
		case gvk.Group == "" && gvk.Kind == "ServiceAccount":
			// OLM creates the service accounts named by the install strategy.
			s.sas[o.GetName()] = true
		case gvk.Group == "apps" && gvk.Kind == "Deployment":
			s.deployments = append(s.deployments, o)
		case gvk.Group == "rbac.authorization.k8s.io" && (gvk.Kind == "Role" || gvk.Kind == "ClusterRole"):
			s.roles[kindName(o)] = o
		case gvk.Group == "rbac.authorization.k8s.io" && (gvk.Kind == "RoleBinding" || gvk.Kind == "ClusterRoleBinding"):
			s.bindings = append(s.bindings, o)
		case gvk.Group == "" && (gvk.Kind == "Service" || gvk.Kind == "ConfigMap"),
			gvk.Group == "monitoring.coreos.com",
			gvk.Group == "policy" && gvk.Kind == "PodDisruptionBudget":
			s.extra = append(s.extra, o)
		default:
			// Webhooks, cert-manager objects and the like need their own CSV
			// fields (webhookdefinitions, ...): refuse rather than drop them.
			return nil, fmt.Errorf("%s %s: no OLM bundle mapping for this kind; teach bundlegen about it", gvk, o.GetName())
		}
	}
	if s.base == nil {
		return nil, fmt.Errorf("no ClusterServiceVersion base (config/manifests/bases)")
	}
	if len(s.deployments) == 0 {
		return nil, fmt.Errorf("no Deployment: nothing for OLM to install")
	}
	return s, nil
}

// permissions resolves the bindings to the operator's service accounts into the
// CSV's permissions and clusterPermissions; roles bound to nobody of ours stay
// bundle manifests (e.g. the editor/viewer aggregation ClusterRoles).
func (s *sorted) permissions(installNS string) (perms, clusterPerms []operatorsv1alpha1.StrategyDeploymentPermissions, unbound []*unstructured.Unstructured, err error) {
	type grant struct {
		sa    string
		role  string
		rules []rbacv1.PolicyRule
	}
	var ns, cluster []grant
	used := map[string]bool{}
	for _, b := range s.bindings {
		var rb rbacv1.RoleBinding // ClusterRoleBinding has the same shape
		if err := convert(b.Object, &rb); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", kindName(b), err)
		}
		key := rb.RoleRef.Kind + "/" + rb.RoleRef.Name
		role, ok := s.roles[key]
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s binds %s, which is not in the manifests", kindName(b), key)
		}
		var r rbacv1.ClusterRole
		if err := convert(role.Object, &r); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", key, err)
		}
		if r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0 {
			return nil, nil, nil, fmt.Errorf("%s: aggregated roles cannot be CSV permissions", key)
		}
		for _, sub := range rb.Subjects {
			if sub.Kind != "ServiceAccount" || !s.sas[sub.Name] {
				return nil, nil, nil, fmt.Errorf("%s binds %s %s, which is not one of the operator's service accounts", kindName(b), sub.Kind, sub.Name)
			}
			g := grant{sa: sub.Name, role: key, rules: r.Rules}
			if b.GetKind() == "ClusterRoleBinding" {
				cluster = append(cluster, g)
				continue
			}
			// OLM creates permissions in the namespace it installs the operator in.
			if b.GetNamespace() != installNS || (role.GetKind() == "Role" && role.GetNamespace() != installNS) {
				return nil, nil, nil, fmt.Errorf("%s (%s) is for namespace %q, but OLM grants namespaced permissions in the install namespace %q",
					kindName(b), key, b.GetNamespace(), installNS)
			}
			ns = append(ns, g)
		}
		used[key] = true
	}
	merge := func(gs []grant) []operatorsv1alpha1.StrategyDeploymentPermissions {
		sort.SliceStable(gs, func(i, j int) bool {
			if gs[i].sa != gs[j].sa {
				return gs[i].sa < gs[j].sa
			}
			return gs[i].role < gs[j].role
		})
		var out []operatorsv1alpha1.StrategyDeploymentPermissions
		for _, g := range gs {
			if n := len(out); n > 0 && out[n-1].ServiceAccountName == g.sa {
				out[n-1].Rules = append(out[n-1].Rules, g.rules...)
				continue
			}
			out = append(out, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: g.sa, Rules: slices.Clone(g.rules)})
		}
		return out
	}
	for key, role := range s.roles {
		if used[key] {
			continue
		}
		if role.GetKind() == "Role" {
			return nil, nil, nil, fmt.Errorf("%s is bound to no service account of the operator", key)
		}
		unbound = append(unbound, role)
	}
	return merge(ns), merge(cluster), unbound, nil
}

// Generate builds the bundle from the kustomize output of config/manifests.
func Generate(objs []*unstructured.Unstructured, o Options) (*Bundle, error) {
	if o.Package == "" || o.Image == "" || o.ManagerContainer == "" || o.InstallNamespace == "" {
		return nil, fmt.Errorf("options: package, image, manager container and install namespace are required")
	}
	if len(o.Channels) == 0 || !slices.Contains(o.Channels, o.DefaultChannel) {
		return nil, fmt.Errorf("options: default channel %q is not one of the channels %v", o.DefaultChannel, o.Channels)
	}
	ver, err := semver.Parse(o.Version)
	if err != nil {
		return nil, fmt.Errorf("operator version %q: %w", o.Version, err)
	}
	prev, err := Replaces(o.Version, o.Previous)
	if err != nil {
		return nil, err
	}
	s, err := sortObjects(objs)
	if err != nil {
		return nil, err
	}
	for _, n := range s.namespaces {
		if n != o.InstallNamespace {
			return nil, fmt.Errorf("the manifests install into namespace %q, the bundle into %q", n, o.InstallNamespace)
		}
	}

	var csv operatorsv1alpha1.ClusterServiceVersion
	if err := convert(s.base.Object, &csv); err != nil {
		return nil, fmt.Errorf("CSV base: %w", err)
	}
	name := CSVName(o.Package, o.Version)
	csv.Name, csv.Namespace = name, ""
	csv.Spec.Version = version.OperatorVersion{Version: ver}
	if csv.Annotations == nil {
		csv.Annotations = map[string]string{}
	}
	csv.Annotations["containerImage"] = o.Image
	if prev != "" {
		csv.Spec.Replaces = CSVName(o.Package, prev)
		// Any older release may upgrade straight to this one.
		csv.Annotations["olm.skipRange"] = "<" + o.Version
	}
	if len(o.Icon) > 0 {
		csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(o.Icon), MediaType: o.IconMediaType}}
	}

	examples := make([]map[string]any, 0, len(s.samples))
	for _, x := range s.samples {
		examples = append(examples, x.Object)
	}
	ex, err := json.MarshalIndent(examples, "", "  ")
	if err != nil {
		return nil, err
	}
	csv.Annotations["alm-examples"] = string(ex)

	if err := ownCRDs(&csv, s.crds); err != nil {
		return nil, err
	}

	perms, clusterPerms, unbound, err := s.permissions(o.InstallNamespace)
	if err != nil {
		return nil, err
	}
	strategy := operatorsv1alpha1.StrategyDetailsDeployment{Permissions: perms, ClusterPermissions: clusterPerms}
	foundImage := false
	for _, d := range s.deployments {
		var dep appsv1.Deployment
		if err := convert(d.Object, &dep); err != nil {
			return nil, fmt.Errorf("Deployment %s: %w", d.GetName(), err)
		}
		if sa := dep.Spec.Template.Spec.ServiceAccountName; !s.sas[sa] {
			return nil, fmt.Errorf("Deployment %s runs as service account %q, which is not in the manifests", dep.Name, sa)
		}
		for i, c := range dep.Spec.Template.Spec.Containers {
			if c.Name == o.ManagerContainer {
				dep.Spec.Template.Spec.Containers[i].Image = o.Image
				foundImage = true
			}
		}
		strategy.DeploymentSpecs = append(strategy.DeploymentSpecs, operatorsv1alpha1.StrategyDeploymentSpec{
			Name: dep.Name, Spec: dep.Spec, Label: dep.Labels,
		})
	}
	if !foundImage {
		return nil, fmt.Errorf("no container %q in the Deployments", o.ManagerContainer)
	}
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment, StrategySpec: strategy}

	csv.Spec.RelatedImages = []operatorsv1alpha1.RelatedImage{{Name: o.ManagerContainer, Image: o.Image}}
	for _, ri := range o.RelatedImages {
		csv.Spec.RelatedImages = append(csv.Spec.RelatedImages, operatorsv1alpha1.RelatedImage{Name: ri.Name, Image: ri.Image})
	}

	b := &Bundle{Name: name, Files: map[string][]byte{}, CSV: &csv}
	add := func(file string, v any) error {
		data, err := marshalYAML(v)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if _, dup := b.Files[ManifestsDir+file]; dup {
			return fmt.Errorf("two manifests named %s", file)
		}
		b.Files[ManifestsDir+file] = data
		back, err := DecodeYAML(data)
		if err != nil || len(back) != 1 {
			return fmt.Errorf("%s: does not read back: %v", file, err)
		}
		b.Objects = append(b.Objects, back[0])
		return nil
	}
	csvObj := map[string]any{}
	if err := convert(&csv, &csvObj); err != nil {
		return nil, err
	}
	delete(csvObj, "status")
	// Drop the fields the typed CSV cannot leave out when they are empty.
	spec := csvObj["spec"].(map[string]any)
	if c, ok := spec["cleanup"].(map[string]any); ok && c["enabled"] == false {
		delete(spec, "cleanup")
	}
	if a, ok := spec["apiservicedefinitions"].(map[string]any); ok && len(a) == 0 {
		delete(spec, "apiservicedefinitions")
	}
	if err := add(o.Package+".clusterserviceversion.yaml", csvObj); err != nil {
		return nil, err
	}
	for _, crd := range s.crds {
		obj := map[string]any{}
		if err := convert(crd, &obj); err != nil {
			return nil, err
		}
		delete(obj, "status")
		if err := add(crd.Spec.Group+"_"+crd.Spec.Names.Plural+".yaml", obj); err != nil {
			return nil, err
		}
	}
	for _, x := range append(unbound, s.extra...) {
		x = x.DeepCopy()
		x.SetNamespace("") // OLM creates them in the install namespace
		gv := x.GroupVersionKind()
		file := x.GetName() + "_" + strings.TrimPrefix(gv.Group+"_", "_") + gv.Version + "_" + strings.ToLower(gv.Kind) + ".yaml"
		if err := add(file, x.Object); err != nil {
			return nil, err
		}
	}
	sort.Slice(b.Objects, func(i, j int) bool { return objectFile(b.Objects[i]) < objectFile(b.Objects[j]) })

	// metadata/annotations.yaml and the Dockerfile carry the same labels.
	ann := [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", mediaType},
		{"operators.operatorframework.io.bundle.manifests.v1", ManifestsDir},
		{"operators.operatorframework.io.bundle.metadata.v1", MetadataDir},
		{"operators.operatorframework.io.bundle.package.v1", o.Package},
		{"operators.operatorframework.io.bundle.channels.v1", strings.Join(o.Channels, ",")},
		{"operators.operatorframework.io.bundle.channel.default.v1", o.DefaultChannel},
		{"operators.operatorframework.io.metrics.builder", builder},
		{"operators.operatorframework.io.metrics.mediatype.v1", "metrics+v1"},
		{"operators.operatorframework.io.metrics.project_layout", layout},
	}
	if s.scorecard != nil {
		ann = append(ann,
			[2]string{"operators.operatorframework.io.test.mediatype.v1", "scorecard+v1"},
			[2]string{"operators.operatorframework.io.test.config.v1", ScorecardDir})
		data, err := marshalYAML(s.scorecard.Object)
		if err != nil {
			return nil, err
		}
		b.Files[ScorecardDir+"config.yaml"] = data
	}
	b.Annotations = map[string]string{}
	for _, kv := range ann {
		b.Annotations[kv[0]] = kv[1]
	}
	data, err := marshalYAML(map[string]any{"annotations": b.Annotations})
	if err != nil {
		return nil, err
	}
	b.Files[MetadataDir+"annotations.yaml"] = data

	var df strings.Builder
	df.WriteString("# Generated by `make bundle` (test/olm/cmd/bundlegen); do not edit.\n")
	df.WriteString("# Build from the repository root: docker build -f bundle.Dockerfile -t " + o.BundleImage + " .\n")
	df.WriteString("FROM scratch\n\n")
	for _, kv := range ann {
		fmt.Fprintf(&df, "LABEL %s=%s\n", kv[0], kv[1])
	}
	df.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	if s.scorecard != nil {
		df.WriteString("COPY bundle/tests/scorecard /tests/scorecard/\n")
	}
	b.Dockerfile = []byte(df.String())
	return b, nil
}

// objectFile orders manifests: the CSV first, then by kind and name.
func objectFile(o *unstructured.Unstructured) string {
	if o.GetKind() == "ClusterServiceVersion" {
		return ""
	}
	return o.GetKind() + "/" + o.GetName()
}

// ownCRDs fills the owned CRDs of the base from the CRDs themselves: every CRD
// in the manifests must be described in the base (display name, description,
// descriptors), and the base may describe no CRD that is not there.
func ownCRDs(csv *operatorsv1alpha1.ClusterServiceVersion, crds []*apiextensionsv1.CustomResourceDefinition) error {
	described := map[string]operatorsv1alpha1.CRDDescription{}
	for _, d := range csv.Spec.CustomResourceDefinitions.Owned {
		described[d.Name+"/"+d.Version] = d
	}
	var owned []operatorsv1alpha1.CRDDescription
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			key := crd.Name + "/" + v.Name
			d, ok := described[key]
			if !ok {
				return fmt.Errorf("CRD %s version %s is not described in the CSV base's owned CRDs", crd.Name, v.Name)
			}
			delete(described, key)
			d.Kind = crd.Spec.Names.Kind
			if d.DisplayName == "" || d.Description == "" {
				return fmt.Errorf("CRD %s: the CSV base needs a displayName and a description", key)
			}
			owned = append(owned, d)
		}
	}
	for key := range described {
		return fmt.Errorf("the CSV base describes %s, which is not in the manifests", key)
	}
	csv.Spec.CustomResourceDefinitions.Owned = owned
	return nil
}
