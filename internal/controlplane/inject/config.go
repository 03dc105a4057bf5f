package inject

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Config is what the injector stamps into every injected pod.
type Config struct {
	// ControlPlaneNamespace is never injected.
	ControlPlaneNamespace string
	// NamespaceSelector meshes the namespaces it matches like those labelled
	// meshkeeper.io/inject=enabled (spec.dataPlane.namespaceSelector); nil
	// when unset.
	NamespaceSelector labels.Selector
	ProxyImage        string
	ProxyInitImage    string
	// ProxyVersion is written to contract.ProxyVersionLabel.
	ProxyVersion    string
	TrustDomain     string
	DefaultMTLSMode string
	// IdentityAddr and DiscoveryAddr are host:port of the control-plane services.
	IdentityAddr  string
	DiscoveryAddr string
	ProxyLogLevel string
	// ProxyEnv adds or overrides proxy environment variables (e.g. test faults).
	ProxyEnv []corev1.EnvVar
	// ProxyResources apply to the proxy and the init container.
	ProxyResources corev1.ResourceRequirements
	// Redirect is how the pod's redirect rules are installed:
	// contract.RedirectInitContainer (also when empty) adds proxy-init;
	// contract.RedirectCNI leaves them to the node's CNI plugin and adds only
	// an unprivileged check, so the pod passes Pod Security "restricted".
	Redirect string
}
