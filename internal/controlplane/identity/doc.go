// Package identity is the mesh's certificate authority: it verifies a proxy's
// ServiceAccount token with a TokenReview and signs the proxy's CSR with the
// current issuer, which it reloads from a Secret without restarting. It also
// issues its own (and the discovery service's) serving certificate.
package identity
