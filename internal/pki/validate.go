package pki

import (
	"crypto/x509"
	"fmt"
	"time"
)

// ValidateAnchor checks a (possibly user-provided) trust anchor: a CA allowed to
// sign certificates, currently valid, long-lived enough to sign an issuer.
func ValidateAnchor(kp *KeyPair, now time.Time) error {
	c := kp.Cert
	if !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("certificate %q is not a CA (basicConstraints CA:TRUE required)", c.Subject.CommonName)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("certificate %q may not sign certificates (keyUsage keyCertSign required)", c.Subject.CommonName)
	}
	if c.MaxPathLen == 0 && c.MaxPathLenZero {
		return fmt.Errorf("certificate %q has pathLen 0 and cannot sign the mesh's intermediate issuer", c.Subject.CommonName)
	}
	return ValidAt(c, now)
}

// ValidAt reports whether now lies within the certificate's validity.
func ValidAt(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(c.NotAfter) {
		return fmt.Errorf("certificate %q expired at %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifyIssuedBy checks that cert chains to anchor (for CA certificates too).
func VerifyIssuedBy(cert, anchor *x509.Certificate, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// RenewalTime is when a certificate should be replaced: renewBefore ahead of
// its expiry, or halfway through its life when renewBefore exceeds it.
func RenewalTime(c *x509.Certificate, renewBefore time.Duration) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	if renewBefore >= life {
		return c.NotBefore.Add(life / 2)
	}
	return c.NotAfter.Add(-renewBefore)
}
