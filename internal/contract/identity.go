package contract

import "time"

// IdentityPath is where the identity service accepts CertifyRequests (HTTPS POST, JSON).
const IdentityPath = "/v1/certify"

// CertifyRequest asks the identity service for a workload certificate.
type CertifyRequest struct {
	// CSR is a PEM "CERTIFICATE REQUEST" for an ECDSA P-256 key held only in the proxy's memory.
	CSR string `json:"csr"`
	// Token is the pod's projected ServiceAccount token with audience IdentityTokenAudience.
	Token string `json:"token"`
}

// CertifyResponse carries the issued leaf and its issuer, PEM, leaf first.
type CertifyResponse struct {
	CertificateChain string    `json:"certificateChain"`
	NotAfter         time.Time `json:"notAfter"`
}

// SPIFFEID returns the identity of a workload: spiffe://<trust-domain>/ns/<ns>/sa/<sa>.
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// MaxLeafTTL is the longest workload certificate lifetime the identity service
// issues (Helm value identity.leafTTL). A leaf cannot be revoked, so its
// lifetime is how long a stolen key stays useful; a week also stays inside the
// default issuer renewal window (168h), so no leaf outlives a rotation.
const MaxLeafTTL = 7 * 24 * time.Hour
