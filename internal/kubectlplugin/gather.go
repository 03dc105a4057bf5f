package kubectlplugin

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Gatherer reads the cluster into facts.
type Gatherer struct {
	Client  client.Client
	Metrics MetricsSource
	// ServerVersion asks the API server its version (discovery).
	ServerVersion func() (*version.Info, error)
	Now           func() time.Time
	// Parallel bounds concurrent proxy scrapes.
	Parallel int
}

// operatorLabels select the operator's Deployment (config/manager).
var operatorLabels = client.MatchingLabels{"app.kubernetes.io/name": "meshkeeper", "app.kubernetes.io/component": "operator"}

// Installation reads the named MeshInstallation, or the only one when name is "".
func (g *Gatherer) Installation(ctx context.Context, name string) (*meshv1.MeshInstallation, error) {
	if name != "" {
		var mi meshv1.MeshInstallation
		if err := g.Client.Get(ctx, types.NamespacedName{Name: name}, &mi); err != nil {
			return nil, fmt.Errorf("MeshInstallation %q: %w", name, err)
		}
		return &mi, nil
	}
	var list meshv1.MeshInstallationList
	if err := g.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list MeshInstallations: %w", err)
	}
	switch len(list.Items) {
	case 0:
		return nil, nil
	case 1:
		return &list.Items[0], nil
	}
	names := make([]string, len(list.Items))
	for i := range list.Items {
		names[i] = list.Items[i].Name
	}
	return nil, fmt.Errorf("%d MeshInstallations (%s): name one with --name", len(names), listNames(names, 5))
}

// GatherPre reads what the pre-install checks need.
func (g *Gatherer) GatherPre(ctx context.Context, name string) (PreFacts, error) {
	var f PreFacts
	v, err := g.ServerVersion()
	if err != nil {
		return f, fmt.Errorf("server version: %w", err)
	}
	f.ServerGitVersion = v.GitVersion
	f.ServerMajor, f.ServerMinor = parseVersion(v)
	for _, p := range InstallPermissions {
		f.Access = append(f.Access, g.review(ctx, p))
	}
	mi, _ := g.Installation(ctx, name) // before install there is none; a read error leaves the label rule
	var nsList corev1.NamespaceList
	if err := g.Client.List(ctx, &nsList); err != nil {
		return f, fmt.Errorf("list namespaces: %w", err)
	}
	sel := namespaceSelector(mi)
	for _, ns := range nsList.Items {
		if meshns.Meshed(ns.Labels, sel) && !neverMeshed(ns.Name, mi) {
			f.Namespaces = append(f.Namespaces, ns)
		}
	}
	var nodes corev1.NodeList
	if err := g.Client.List(ctx, &nodes); err != nil {
		return f, fmt.Errorf("list nodes: %w", err)
	}
	f.Nodes = nodes.Items
	return f, nil
}

func (g *Gatherer) review(ctx context.Context, p Permission) AccessAnswer {
	r := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
		Verb: p.Verb, Group: p.Group, Resource: p.Resource, Namespace: p.Namespace,
	}}}
	if err := g.Client.Create(ctx, r); err != nil {
		return AccessAnswer{Permission: p, Err: err}
	}
	return AccessAnswer{Permission: p, Allowed: r.Status.Allowed, Reason: r.Status.Reason}
}

func parseVersion(v *version.Info) (major, minor int) {
	// Minor may carry a suffix ("29+" on some providers).
	fmt.Sscanf(v.Major, "%d", &major)
	fmt.Sscanf(v.Minor, "%d", &minor)
	return major, minor
}

// neverMeshed are namespaces the injector is never called for.
func neverMeshed(ns string, mi *meshv1.MeshInstallation) bool {
	switch ns {
	case metav1.NamespaceSystem, metav1.NamespacePublic, "kube-node-lease":
		return true
	}
	return mi != nil && ns == mi.Spec.ControlPlane.Namespace
}

// Gather reads what the installed-mesh checks and status need. Errors of
// single reads land in the facts (a check then fails naming them); only a
// failure to read the installation or the pods ends the gathering.
func (g *Gatherer) Gather(ctx context.Context, name string) (Facts, error) {
	f := Facts{Now: g.Now()}
	var deps appsv1.DeploymentList
	if err := g.Client.List(ctx, &deps, operatorLabels); err != nil {
		return f, fmt.Errorf("list operator Deployments: %w", err)
	}
	f.Operator = deps.Items
	f.Installation, f.InstallationErr = g.Installation(ctx, name)
	if f.Installation == nil {
		return f, nil
	}
	mi := f.Installation
	f.ProxyVersion = versions.ProxyVersions()[mi.Status.InstalledVersion]
	if err := g.controlPlane(ctx, &f); err != nil {
		return f, err
	}
	nsLabels, err := g.meshedNamespaces(ctx, &f)
	if err != nil {
		return f, err
	}
	g.bundles(ctx, &f)
	g.injection(ctx, &f)
	if f.ProxyVersion == "" { // a mesh version this plugin does not know: trust the injector's answer
		f.ProxyVersion = f.Injection.ProxyVersion
	}
	var pods corev1.PodList
	if err := g.Client.List(ctx, &pods); err != nil {
		return f, fmt.Errorf("list pods: %w", err)
	}
	f.MeshedPods = meshedRunning(pods.Items)
	f.Unmeshed = Unmeshed(pods.Items, nsLabels, mi)
	for _, s := range ScrapeAll(ctx, g.Metrics, f.MeshedPods, g.Parallel) {
		f.Proxies = append(f.Proxies, proxymetrics.PodReport{Pod: s.Pod, Report: s.Report, Err: s.Err})
	}
	return f, nil
}

func (g *Gatherer) controlPlane(ctx context.Context, f *Facts) error {
	ns := f.Installation.Spec.ControlPlane.Namespace
	sel := client.HasLabels{contract.ComponentLabel}
	var deps appsv1.DeploymentList
	if err := g.Client.List(ctx, &deps, client.InNamespace(ns), sel); err != nil {
		return fmt.Errorf("list control-plane Deployments: %w", err)
	}
	var pods corev1.PodList
	if err := g.Client.List(ctx, &pods, client.InNamespace(ns), sel); err != nil {
		return fmt.Errorf("list control-plane pods: %w", err)
	}
	f.ControlPlane, f.ControlPlanePods = deps.Items, pods.Items
	return nil
}

func (g *Gatherer) meshedNamespaces(ctx context.Context, f *Facts) (map[string]map[string]string, error) {
	var nsList corev1.NamespaceList
	if err := g.Client.List(ctx, &nsList); err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	sel := namespaceSelector(f.Installation)
	all := map[string]map[string]string{}
	for _, ns := range nsList.Items {
		all[ns.Name] = ns.Labels
		if ns.DeletionTimestamp == nil && meshns.Meshed(ns.Labels, sel) && !neverMeshed(ns.Name, f.Installation) {
			f.MeshedNamespaces = append(f.MeshedNamespaces, ns.Name)
		}
	}
	sort.Strings(f.MeshedNamespaces)
	return all, nil
}

func (g *Gatherer) bundles(ctx context.Context, f *Facts) {
	f.Bundles, f.BundleErrs = map[string][]string{}, map[string]error{}
	for _, ns := range f.MeshedNamespaces {
		var cm corev1.ConfigMap
		if err := g.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
			f.BundleErrs[ns] = err
			continue
		}
		certs, err := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
		if err != nil {
			f.BundleErrs[ns] = fmt.Errorf("%s: %w", contract.TrustRootsKey, err)
			continue
		}
		for _, c := range certs {
			f.Bundles[ns] = append(f.Bundles[ns], pki.Fingerprint(c))
		}
	}
}

// injectionProbe is the dry-run pod: requests and limits so a ResourceQuota
// that demands them admits it, an image that cannot exist so nothing could run it.
func injectionProbe(ns string) *corev1.Pod {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("4Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "meshkeeper-check-",
			Annotations: map[string]string{contract.InjectKey: contract.InjectEnabled}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "check", Image: "meshkeeper.invalid/check:none",
			Resources: corev1.ResourceRequirements{Requests: res, Limits: res}}}},
	}
}

// injection creates a pod with server-side dry-run, so it passes admission
// exactly as a workload's pod would (webhook routing included) and persists
// nothing, then looks for the proxy in what came back.
func (g *Gatherer) injection(ctx context.Context, f *Facts) {
	ns := metav1.NamespaceDefault
	if len(f.MeshedNamespaces) > 0 {
		ns = f.MeshedNamespaces[0]
	}
	f.Injection.Namespace = ns
	pod := injectionProbe(ns)
	if err := g.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		f.Injection.Err = err
		return
	}
	f.Injection.ProxyContainer = hasProxyContainer(pod)
	f.Injection.ProxyVersion = pod.Labels[contract.ProxyVersionLabel]
}

func hasProxyContainer(p *corev1.Pod) bool {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range list {
			if c.Name == contract.ProxyContainerName {
				return true
			}
		}
	}
	return false
}

// meshedRunning are the pods whose proxy can answer now: running, not
// terminating, stamped by the injector. Sorted for stable output.
func meshedRunning(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if _, ok := p.Labels[contract.ProxyVersionLabel]; ok && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}
