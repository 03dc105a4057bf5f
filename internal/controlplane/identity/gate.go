package identity

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Bundle is the published set of trust anchors, as far as it is known.
type Bundle struct {
	// Known is false when no bundle is published where we can read it; the
	// gate then cannot judge and lets the issuer through.
	Known bool
	Roots *x509.CertPool
}

// ParseBundle reads a PEM bundle of CA certificates; it must hold at least one.
func ParseBundle(data []byte) (Bundle, error) {
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return Bundle{}, fmt.Errorf("trust bundle: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return Bundle{Known: true, Roots: pool}, nil
}

// Adoption is the gate's verdict on which issuer to sign with.
type Adoption struct {
	Issuer *Issuer
	// Held is true when the candidate was refused and the previous issuer kept.
	Held   bool
	Reason string
}

// ChooseIssuer decides whether the candidate issuer from the Secret may sign.
// Workloads verify our certificates against the published bundle, so an
// issuer that does not chain to it would break every new connection: the
// previous issuer is kept until the bundle catches up (the operator publishes
// the new anchor before switching the issuer).
func ChooseIssuer(current, candidate *Issuer, bundle Bundle, now time.Time) Adoption {
	switch {
	case candidate == nil:
		return Adoption{Issuer: current, Reason: "no candidate issuer"}
	case !bundle.Known:
		return Adoption{Issuer: candidate, Reason: "no trust bundle published; issuer adopted unchecked"}
	}
	inter := x509.NewCertPool()
	for _, c := range candidate.Chain[1:] {
		inter.AddCert(c)
	}
	_, err := candidate.Cert.Verify(x509.VerifyOptions{
		Roots: bundle.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return Adoption{Issuer: candidate, Reason: "issuer chains to the trust bundle"}
	}
	return Adoption{Issuer: current, Held: true, Reason: "issuer does not chain to the trust bundle: " + err.Error()}
}
