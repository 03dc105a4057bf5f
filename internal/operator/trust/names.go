package trust

import (
	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Objects the operator owns in the control-plane namespace.
const (
	// AnchorSecret holds a generated anchor's certificate and key. Only the
	// operator can read it: the control plane's RBAC names the issuer alone.
	AnchorSecret = "meshkeeper-trust-anchor"
	// NextAnchorSecret holds a rotation's new anchor until it is promoted.
	NextAnchorSecret = "meshkeeper-trust-anchor-next"
	// IssuerSecret is read by the identity service.
	IssuerSecret = contract.IssuerSecret
	// InjectorTLSSecret holds the injector's serving certificate and its CA.
	InjectorTLSSecret = contract.InjectorTLSSecret
	// BundleConfigMap is published in every namespace, like kube-root-ca.crt.
	BundleConfigMap = contract.TrustRootsConfigMap
	BundleKey       = contract.TrustRootsKey

	keyCert = "tls.crt"
	keyKey  = "tls.key"
	keyCA   = "ca.crt"
)

// systemNamespaces never receive the bundle: nothing there is meshed.
var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// IsTrustSecret reports whether the Secret namespace/name holds trust of mi:
// its anchor (generated or the one it references), the next anchor, the
// issuer or the injector's serving certificate.
func IsTrustSecret(mi *meshv1.MeshInstallation, namespace, name string) bool {
	if namespace != mi.Spec.ControlPlane.Namespace {
		return false
	}
	if ref := mi.Spec.Trust.AnchorSecretRef; ref != nil && ref.Name == name {
		return true
	}
	switch name {
	case AnchorSecret, NextAnchorSecret, IssuerSecret, InjectorTLSSecret:
		return true
	}
	return false
}
