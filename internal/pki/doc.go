// Package pki generates and validates the mesh's certificates with crypto/x509:
// the self-signed trust anchor, the intermediate issuer it signs, and serving
// certificates. Every function is pure apart from drawing random numbers.
package pki
