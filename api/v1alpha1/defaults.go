package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Lifetimes the API server defaults to; repeated here for objects that did not
// pass through it (unit tests, clients building specs).
var (
	DefaultAnchorLifetime = CertificateLifetime{Validity: metav1.Duration{Duration: 8760 * time.Hour}, RenewBefore: metav1.Duration{Duration: 720 * time.Hour}}
	DefaultIssuerLifetime = CertificateLifetime{Validity: metav1.Duration{Duration: 720 * time.Hour}, RenewBefore: metav1.Duration{Duration: 168 * time.Hour}}
)

// AnchorLifetime returns the anchor's lifetime, defaulted when unset.
func (t TrustSpec) AnchorLifetime() CertificateLifetime {
	if t.Anchor == nil {
		return DefaultAnchorLifetime
	}
	return *t.Anchor
}

// IssuerLifetime returns the issuer's lifetime, defaulted when unset.
func (t TrustSpec) IssuerLifetime() CertificateLifetime {
	if t.Issuer == nil {
		return DefaultIssuerLifetime
	}
	return *t.Issuer
}
