// Package tlsid holds the mesh's TLS identity rules: how a peer's SPIFFE
// identity is read and verified against the trust bundle, how certificates are
// fingerprinted for the build-info metric, and the mTLS client and server
// configurations both proxy directions use. Everything here is pure or reads
// its inputs through small interfaces, so certificates and bundles can rotate
// underneath without restarting anything.
package tlsid
