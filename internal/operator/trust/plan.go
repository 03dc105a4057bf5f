package trust

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Webhook serving certificates are internal plumbing, not mesh trust; they
// live a year and are replaced a month before expiry.
const (
	webhookValidity    = 365 * 24 * time.Hour
	webhookRenewBefore = 30 * 24 * time.Hour
)

// IssuerDecision says whether the identity issuer must be (re)issued and why.
type IssuerDecision struct {
	Issue  bool
	Reason string
}

// DecideIssuer is the ordered policy for the issuer: the first rule that
// matches wins, so the reported reason is deterministic.
func DecideIssuer(current *pki.KeyPair, anchor *pki.KeyPair, renewBefore time.Duration, now time.Time) IssuerDecision {
	switch {
	case current == nil:
		return IssuerDecision{true, "no issuer yet"}
	case pki.VerifyIssuedBy(current.Cert, anchor.Cert, now) != nil:
		return IssuerDecision{true, "issuer is not signed by the current trust anchor"}
	case !now.Before(pki.RenewalTime(current.Cert, renewBefore)):
		return IssuerDecision{true, fmt.Sprintf("issuer enters its renewal window (expires %s)", current.Cert.NotAfter.UTC().Format(time.RFC3339))}
	}
	return IssuerDecision{}
}

// WebhookNeedsCertificate reports whether the injector's serving certificate
// must be (re)generated: missing, for other DNS names, or near expiry.
func WebhookNeedsCertificate(ca *x509.Certificate, serving *pki.KeyPair, dnsNames []string, now time.Time) bool {
	if ca == nil || serving == nil {
		return true
	}
	if pki.VerifyIssuedBy(serving.Cert, ca, now) != nil {
		return true
	}
	for _, n := range dnsNames {
		if serving.Cert.VerifyHostname(n) != nil {
			return true
		}
	}
	return !now.Before(pki.RenewalTime(serving.Cert, webhookRenewBefore))
}

// NextCheck is the earliest time any trust material needs attention again.
func NextCheck(now time.Time, times ...time.Time) time.Time {
	next := time.Time{}
	for _, t := range times {
		if t.IsZero() {
			continue
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !next.After(now) {
		return now
	}
	return next
}

// InjectorDNSNames are the names the apiserver uses to reach the injector.
func InjectorDNSNames(namespace string) []string {
	svc := contract.InjectorServiceName + "." + namespace + ".svc"
	return []string{svc, svc + ".cluster.local"}
}
