package charts_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

// render renders a release's chart with the values the operator derives
// from an installation, schema validation included.
func render(t *testing.T, rel versions.Release, redirect meshv1.RedirectMode, user string) (map[string]string, error) {
	t.Helper()
	mi := &meshv1.MeshInstallation{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"},
		Spec: meshv1.MeshInstallationSpec{Version: rel.Version,
			ControlPlane: meshv1.ControlPlaneSpec{Namespace: "meshkeeper-system"},
			Trust:        meshv1.TrustSpec{TrustDomain: "cluster.local"},
			DataPlane:    meshv1.DataPlaneSpec{MTLSMode: meshv1.MTLSPermissive, Redirect: redirect}},
	}
	if user != "" {
		mi.Spec.ControlPlane.Values = &apiextensionsv1.JSON{Raw: []byte(user)}
	}
	vals, err := release.Values(mi, rel, []byte("CA"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.LoadDir(rel.Chart)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals,
		chartutil.ReleaseOptions{Name: release.ReleaseName, Namespace: "meshkeeper-system"}, chartutil.DefaultCapabilities, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

func manifest(files map[string]string, _ versions.Release, name string) string {
	for path, m := range files {
		if strings.HasSuffix(path, "/templates/"+name) {
			return strings.TrimSpace(m)
		}
	}
	return ""
}

func injectorArgs(t *testing.T, files map[string]string, rel versions.Release) []string {
	t.Helper()
	doc := strings.SplitN(manifest(files, rel, "injector.yaml"), "\n---", 2)[0]
	var d appsv1.Deployment
	if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Args
}

// With redirect CNI every shipped chart renders the node agent's DaemonSet
// (the names the operator reads, least privilege, the node's dirs from
// values, this release's plugin image) and the injector's --redirect=CNI.
func TestCNIDaemonSet(t *testing.T) {
	for _, v := range versions.Supported() {
		rel, _ := versions.Lookup(v)
		t.Run(v, func(t *testing.T) {
			files, err := render(t, rel, meshv1.RedirectCNI, `{"cni":{"binDir":"/usr/lib/cni","confDir":"/var/lib/meshkeeper-cluster/cni/net.d"}}`)
			if err != nil {
				t.Fatal(err)
			}
			if args := injectorArgs(t, files, rel); !slices.Contains(args, "--redirect=CNI") {
				t.Errorf("injector args %v lack --redirect=CNI", args)
			}
			var ds appsv1.DaemonSet
			docs := strings.Split(manifest(files, rel, "cni.yaml"), "\n---\n")
			if len(docs) != 2 {
				t.Fatalf("cni.yaml renders %d documents, want the ServiceAccount and the DaemonSet", len(docs))
			}
			var sa corev1.ServiceAccount
			if err := yaml.UnmarshalStrict([]byte(docs[0]), &sa); err != nil {
				t.Fatal(err)
			}
			if sa.Kind != "ServiceAccount" || sa.Name != "meshkeeper-cni" || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Errorf("ServiceAccount %s %s automount %v", sa.Kind, sa.Name, sa.AutomountServiceAccountToken)
			}
			if err := yaml.UnmarshalStrict([]byte(docs[1]), &ds); err != nil {
				t.Fatal(err)
			}
			if ds.Name != contract.CNIDaemonSetName || ds.Namespace != "meshkeeper-system" ||
				ds.Labels[contract.ComponentLabel] != contract.CNIComponent || ds.Spec.Template.Labels[contract.ComponentLabel] != contract.CNIComponent ||
				ds.Spec.Selector.MatchLabels[contract.ComponentLabel] != contract.CNIComponent {
				t.Errorf("names/labels: %s/%s %v", ds.Namespace, ds.Name, ds.Labels)
			}
			pod := ds.Spec.Template.Spec
			c := pod.Containers[0]
			if c.Image != rel.CNIImage("") {
				t.Errorf("image %s, want %s", c.Image, rel.CNIImage(""))
			}
			sc := c.SecurityContext
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken || pod.ServiceAccountName != sa.Name ||
				sc == nil || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || sc.Privileged != nil ||
				!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
				t.Errorf("not least privilege: automount %v, container %+v", pod.AutomountServiceAccountToken, sc)
			}
			if len(pod.Tolerations) != 1 || pod.Tolerations[0].Operator != corev1.TolerationOpExists || pod.Tolerations[0].Key != "" {
				t.Errorf("tolerations %v do not tolerate every taint", pod.Tolerations)
			}
			if pod.PriorityClassName != "system-node-critical" {
				t.Errorf("priority class %q", pod.PriorityClassName)
			}
			paths := map[string]string{}
			for _, vol := range pod.Volumes {
				paths[vol.Name] = vol.HostPath.Path
			}
			if paths["cni-bin"] != "/usr/lib/cni" || paths["cni-net"] != "/var/lib/meshkeeper-cluster/cni/net.d" {
				t.Errorf("host paths %v", paths)
			}
			if p := c.ReadinessProbe; p == nil || p.Exec == nil || p.Exec.Command[1] != "ready" {
				t.Errorf("readiness probe %+v", p)
			}
		})
	}
}

// InitContainer renders neither, whatever the user values say.
func TestNoCNIDaemonSetForInitContainer(t *testing.T) {
	for _, v := range versions.Supported() {
		rel, _ := versions.Lookup(v)
		files, err := render(t, rel, meshv1.RedirectInitContainer, `{"cni":{"enabled":true}}`)
		if err != nil {
			t.Fatal(err)
		}
		if m := manifest(files, rel, "cni.yaml"); m != "" {
			t.Errorf("%s: DaemonSet rendered:\n%s", v, m)
		}
		if args := injectorArgs(t, files, rel); slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--redirect") }) {
			t.Errorf("%s: injector args %v", v, args)
		}
	}
}

// Host dirs are mounted into a root pod: only absolute, clean paths pass.
func TestCNIHostDirSchema(t *testing.T) {
	rel := versions.Latest()
	for dir, ok := range map[string]bool{
		"/opt/cni/bin": true, "/var/lib/rancher/k3s/data/current/bin": true,
		"/": false, "": false, "opt/cni/bin": false, "/opt/../etc": false, "/opt/./cni": false, "/opt/cni/": false,
		"/opt//cni": false, "/opt/cni\n/bin": false, "/opt/cni bin": false,
	} {
		q, _ := json.Marshal(dir)
		_, err := render(t, rel, meshv1.RedirectCNI, `{"cni":{"confDir":`+string(q)+`}}`)
		if (err == nil) != ok {
			t.Errorf("cni.confDir %q: err %v, want ok=%v", dir, err, ok)
		}
	}
}
