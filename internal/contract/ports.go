package contract

// Proxy ports inside a meshed pod and the proxy's user.
const (
	ProxyOutboundPort = 4140
	ProxyInboundPort  = 4143
	ProxyAdminPort    = 4191
	// ProxyUID is the user the proxy runs as; proxy-init exempts it from redirection.
	ProxyUID = 2102
)

// Control-plane service ports.
const (
	IdentityPort  = 8080
	DiscoveryPort = 8086
	InjectorPort  = 8443
)

// Control-plane object names, shared by the chart, the operator and the proxy.
const (
	IdentityServiceName  = "meshkeeper-identity"
	DiscoveryServiceName = "meshkeeper-discovery"
	InjectorServiceName  = "meshkeeper-injector"

	// TrustRootsConfigMap holds the PEM bundle of every valid trust anchor under TrustRootsKey.
	TrustRootsConfigMap = "meshkeeper-trust-roots"
	TrustRootsKey       = "ca-bundle.crt"
	// IssuerSecret holds the identity issuer (tls.crt, tls.key, ca.crt = its anchor).
	IssuerSecret = "meshkeeper-identity-issuer"
	// InjectorTLSSecret holds the injector webhook's serving certificate
	// (tls.crt, tls.key) and the CAs the webhook configuration trusts
	// (ca.crt). During a renewal it also holds the next serving pair under
	// InjectorTLSNextCertKey and InjectorTLSNextKeyKey, until the webhook
	// configuration trusts its CA; the injector reads only tls.crt/tls.key.
	InjectorTLSSecret      = "meshkeeper-injector-tls"
	InjectorTLSNextCertKey = "next-tls.crt"
	InjectorTLSNextKeyKey  = "next-tls.key"
	// InjectorWebhookName is the webhook in the MutatingWebhookConfiguration
	// InjectorWebhookConfigPrefix + control-plane namespace (the chart's webhook.yaml).
	InjectorWebhookName         = "inject.meshkeeper.io"
	InjectorWebhookConfigPrefix = "meshkeeper-proxy-injector-"

	// IdentityTokenAudience is the audience of the projected ServiceAccount token a
	// proxy presents to the identity service.
	IdentityTokenAudience = "identity.meshkeeper.io"
	// ALPN is the protocol the proxies negotiate on mesh mTLS connections.
	ALPN = "meshkeeper/1"
)

// ProxyPorts lists every port the proxy listens on. A proxy never forwards a
// connection to one of them on its own pod: that would be a loop.
func ProxyPorts() []uint16 {
	return []uint16{ProxyOutboundPort, ProxyInboundPort, ProxyAdminPort}
}
