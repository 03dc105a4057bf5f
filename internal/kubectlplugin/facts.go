package kubectlplugin

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// PreFacts is what the pre-install checks decide on.
type PreFacts struct {
	// ServerVersion is the API server's "major.minor" (gitVersion kept for messages).
	ServerMajor, ServerMinor int
	ServerGitVersion         string
	// Access is the answer of one SelfSubjectAccessReview per permission install needs.
	Access []AccessAnswer
	// Namespaces are the namespaces that will be meshed (labelled
	// meshkeeper.io/inject=enabled, or matching an existing installation's selector).
	Namespaces []corev1.Namespace
	// Nodes carry the kubelet's network readiness (CNI).
	Nodes []corev1.Node
}

// AccessAnswer is one permission and whether the user has it.
type AccessAnswer struct {
	Permission Permission
	Allowed    bool
	Reason     string
	// Err is set when the review itself failed.
	Err error
}

// Permission is one verb on one resource (cluster-wide when Namespace is "").
type Permission struct {
	Verb, Group, Resource, Namespace string
}

// Facts is what the installed-mesh checks decide on, read at one instant.
type Facts struct {
	Now time.Time
	// Installation is the MeshInstallation (nil when none exists); InstallationErr
	// says why it could not be read, or that there were several.
	Installation    *meshv1.MeshInstallation
	InstallationErr error
	// ProxyVersion is the proxy version the installed mesh version runs ("" when unknown).
	ProxyVersion string
	// Operator are the operator's Deployments (any namespace).
	Operator []appsv1.Deployment
	// ControlPlane are the Deployments and pods of the installation's control plane.
	ControlPlane     []appsv1.Deployment
	ControlPlanePods []corev1.Pod
	// Injection is the dry-run pod's outcome.
	Injection InjectionResult
	// MeshedNamespaces are the namespaces whose new pods get the proxy, sorted.
	MeshedNamespaces []string
	// Bundles maps a meshed namespace to the fingerprints in its trust bundle
	// ConfigMap; BundleErrs says why a namespace's bundle could not be read.
	Bundles    map[string][]string
	BundleErrs map[string]error
	// MeshedPods are the live pods carrying the proxy; Proxies their reports.
	MeshedPods []corev1.Pod
	Proxies    []proxymetrics.PodReport
	// Unmeshed are the live pods that should carry the proxy and do not.
	Unmeshed []corev1.Pod
}

// InjectionResult is what a server-side dry-run pod came back with.
type InjectionResult struct {
	Namespace string
	// Err is the create's error (admission refused, webhook unreachable with failurePolicy Fail).
	Err error
	// ProxyContainer is true when the returned pod carries the proxy container;
	// ProxyVersion is the version the injector stamped.
	ProxyContainer bool
	ProxyVersion   string
}

// namespaceSelector is the installation's data-plane selector (nil when unset or invalid).
func namespaceSelector(mi *meshv1.MeshInstallation) labels.Selector {
	if mi == nil || mi.Spec.DataPlane.NamespaceSelector == nil {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(mi.Spec.DataPlane.NamespaceSelector)
	if err != nil {
		return nil
	}
	return s
}

// proxyReport is one proxy's view of itself (build_info and inbound traffic).
type proxyReport = proxymetrics.Report

// bundleName is the trust bundle ConfigMap published in every namespace.
const bundleName = "ConfigMap " + contract.TrustRootsConfigMap
