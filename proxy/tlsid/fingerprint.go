package tlsid

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strings"
)

// Fingerprint is the SHA-256 of a certificate's DER, hex encoded.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// AnchorsLabel is the build-info value for a set of trust anchors: their
// fingerprints sorted and comma-separated, duplicates removed, so the same
// bundle always reads the same however the PEM file orders it.
func AnchorsLabel(anchors []*x509.Certificate) string {
	fps := make([]string, 0, len(anchors))
	for _, a := range anchors {
		fps = append(fps, Fingerprint(a))
	}
	slices.Sort(fps)
	return strings.Join(slices.Compact(fps), ",")
}
