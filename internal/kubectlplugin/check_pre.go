package kubectlplugin

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// MinKubernetesMinor is the oldest Kubernetes 1.x the mesh runs on: the proxy
// is a native sidecar (an init container with restartPolicy Always), on by
// default since 1.29.
const MinKubernetesMinor = 29

// InstallPermissions are what `make deploy` and a MeshInstallation need from
// the user who installs: the CRD, the operator's cluster RBAC and webhook
// configuration, its namespace and Deployment, and the installation itself.
var InstallPermissions = []Permission{
	{Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
	{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
	{Verb: "create", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
	{Verb: "create", Resource: "namespaces"},
	{Verb: "create", Group: "apps", Resource: "deployments", Namespace: "meshkeeper-system"},
	{Verb: "create", Resource: "serviceaccounts", Namespace: "meshkeeper-system"},
	{Verb: "create", Group: "mesh.meshkeeper.io", Resource: "meshinstallations"},
}

// PreChecks judges whether the cluster can take the mesh.
func PreChecks(f PreFacts) []Result {
	return []Result{checkKubeVersion(f), checkPermissions(f), checkPodSecurity(f), checkCNI(f)}
}

func checkKubeVersion(f PreFacts) Result {
	const name = "Kubernetes version"
	if f.ServerMajor > 1 || (f.ServerMajor == 1 && f.ServerMinor >= MinKubernetesMinor) {
		return pass(name, fmt.Sprintf("%s is at least 1.%d", f.ServerGitVersion, MinKubernetesMinor))
	}
	return fail(name, fmt.Sprintf("%s is older than 1.%d", f.ServerGitVersion, MinKubernetesMinor),
		fmt.Sprintf("the proxy runs as a native sidecar: upgrade the cluster to 1.%d or later", MinKubernetesMinor))
}

func checkPermissions(f PreFacts) Result {
	const name = "install permissions"
	var missing []string
	for _, a := range f.Access {
		switch {
		case a.Err != nil:
			missing = append(missing, a.Permission.String()+" (review failed: "+a.Err.Error()+")")
		case !a.Allowed:
			missing = append(missing, a.Permission.String())
		}
	}
	if len(f.Access) == 0 {
		return fail(name, "no access review was answered", "check that the kubeconfig's user can create selfsubjectaccessreviews")
	}
	if len(missing) > 0 {
		return fail(name, "you cannot "+listNames(missing, 4), "install as a cluster admin, or ask one for these permissions")
	}
	return pass(name, fmt.Sprintf("you can %d of %d actions install needs", len(f.Access), len(f.Access)))
}

func (p Permission) String() string {
	res := p.Resource
	if p.Group != "" {
		res += "." + p.Group
	}
	if p.Namespace != "" {
		return p.Verb + " " + res + " in " + p.Namespace
	}
	return p.Verb + " " + res
}

// podSecurityEnforce is the Pod Security Admission label; the proxy-init
// container adds NET_ADMIN and NET_RAW, which "baseline" and "restricted" refuse.
const podSecurityEnforce = "pod-security.kubernetes.io/enforce"

func checkPodSecurity(f PreFacts) Result {
	const name = "Pod Security of meshed namespaces"
	var refused []string
	for _, ns := range f.Namespaces {
		if level := ns.Labels[podSecurityEnforce]; level == "baseline" || level == "restricted" {
			refused = append(refused, ns.Name+" ("+level+")")
		}
	}
	sort.Strings(refused)
	if len(refused) > 0 {
		return fail(name, "enforce a level that refuses the proxy's init container (NET_ADMIN, NET_RAW): "+listNames(refused, 5),
			"label them "+podSecurityEnforce+"=privileged, or leave them unmeshed")
	}
	if len(f.Namespaces) == 0 {
		return pass(name, "no namespace is labelled meshkeeper.io/inject=enabled yet")
	}
	return pass(name, fmt.Sprintf("%d namespace(s) to mesh admit the proxy's init container", len(f.Namespaces)))
}

// checkCNI reads the kubelet's verdict on the network plugin: a node without
// a working CNI is NotReady with a "network plugin" message, or has
// NetworkUnavailable=True.
func checkCNI(f PreFacts) Result {
	const name = "CNI"
	if len(f.Nodes) == 0 {
		return fail(name, "the cluster has no nodes", "add nodes before installing the mesh")
	}
	var broken []string
	for _, n := range f.Nodes {
		if why := cniProblem(n); why != "" {
			broken = append(broken, n.Name+": "+why)
		}
	}
	if len(broken) > 0 {
		return fail(name, "pod networking is not ready on "+listNames(broken, 3), "install or repair the cluster's CNI plugin")
	}
	return pass(name, fmt.Sprintf("pod networking is ready on %d node(s)", len(f.Nodes)))
}

func cniProblem(n corev1.Node) string {
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue:
			return "NetworkUnavailable: " + c.Message
		case c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue &&
			(strings.Contains(c.Message, "network plugin") || strings.Contains(c.Message, "cni")):
			return "NotReady: " + c.Message
		}
	}
	return ""
}
