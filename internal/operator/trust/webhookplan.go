package trust

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// webhookPoll is how often a renewal in progress looks again: the release
// rolls the webhook configuration within a pass, the kubelet refreshes the
// injector's mounted Secret within about a minute.
const webhookPoll = 10 * time.Second

// WebhookFacts is what was observed of the injector's serving certificate.
type WebhookFacts struct {
	Now      time.Time
	DNSNames []string
	// CAs is the Secret's ca.crt in order: the CAs the caBundle carries.
	CAs []*x509.Certificate
	// Serving is the pair the injector serves (tls.crt, tls.key); Staged is a
	// renewal's next pair. Each is nil when missing or unreadable.
	Serving, Staged *pki.KeyPair
	// Live is the caBundle of the live webhook configuration (nil when none).
	Live []*x509.Certificate
	// Presented is the leaf each injector pod presents; nil when not read or
	// when any pod could not be read.
	Presented []*x509.Certificate
}

// WebhookAction is the next step for the injector's serving certificate.
type WebhookAction string

const (
	// WebhookKeep: valid and not due.
	WebhookKeep WebhookAction = "Keep"
	// WebhookCreate: no usable certificate (first install, unreadable,
	// expired, other names). A new CA and pair replace it in one step:
	// nothing the injector presents verifies anyway.
	WebhookCreate WebhookAction = "Create"
	// WebhookStage: write a new CA next to the old ones in ca.crt and the new
	// pair under the staged keys; the injector keeps serving the old pair.
	WebhookStage WebhookAction = "Stage"
	// WebhookAwaitConfig: the webhook configuration does not trust the staged
	// pair's CA yet (the release rolls it with the caBundle returned now).
	WebhookAwaitConfig WebhookAction = "AwaitConfig"
	// WebhookSwap: the webhook configuration trusts the staged CA; the staged
	// pair becomes the served one.
	WebhookSwap WebhookAction = "Swap"
	// WebhookAwaitInjector: the old CAs stay until every injector pod is seen
	// presenting the served pair.
	WebhookAwaitInjector WebhookAction = "AwaitInjector"
	// WebhookRetire: the injector presents the served pair; ca.crt keeps only
	// its CA.
	WebhookRetire WebhookAction = "Retire"
)

// WebhookStep is an action with the reason it was chosen.
type WebhookStep struct {
	Action WebhookAction
	Reason string
}

// DecideWebhook is the ordered policy of the serving certificate's renewal.
// It derives the stage from what was observed alone, so a crash anywhere
// resumes where it stopped. Throughout, the caBundle holds the CA of every
// certificate the injector may present: the served pair's CA never leaves
// ca.crt before the staged one joins it, and the old CAs leave only once
// every injector pod presents the new pair.
func DecideWebhook(f WebhookFacts) WebhookStep {
	signer := signerOf(f.CAs, f.Serving, f.Now)
	if broken := unusable(f.Serving, signer, f.DNSNames); broken != "" {
		if f.Staged != nil && decideStaged(f).Action == WebhookSwap {
			return WebhookStep{WebhookSwap, broken + "; the staged certificate's CA is trusted already"}
		}
		return WebhookStep{WebhookCreate, broken}
	}
	switch {
	case f.Staged != nil:
		return decideStaged(f)
	case WebhookNeedsCertificate(signer, f.Serving, f.DNSNames, f.Now):
		return WebhookStep{WebhookStage, fmt.Sprintf("serving certificate enters its renewal window (expires %s)", f.Serving.Cert.NotAfter.UTC().Format(time.RFC3339))}
	case len(f.CAs) > 1:
		return decideRetire(f, signer)
	}
	return WebhookStep{WebhookKeep, "serving certificate is valid"}
}

// unusable says why the served pair verifies nowhere ("" when it is usable).
func unusable(serving *pki.KeyPair, signer *x509.Certificate, names []string) string {
	switch {
	case serving == nil:
		return "no readable serving certificate"
	case signer == nil:
		return "serving certificate is expired or signed by no CA in ca.crt"
	case !servesNames(serving.Cert, names):
		return "serving certificate is for other DNS names"
	}
	return ""
}

func decideStaged(f WebhookFacts) WebhookStep {
	staged := signerOf(f.CAs, f.Staged, f.Now)
	switch {
	case staged == nil || !servesNames(f.Staged.Cert, f.DNSNames):
		return WebhookStep{WebhookStage, "staged certificate is unusable (expired, other names, or signed by no CA in ca.crt); staging a new one"}
	case !containsCert(f.Live, staged):
		return WebhookStep{WebhookAwaitConfig, fmt.Sprintf("webhook configuration does not trust the new CA %s yet", short(staged))}
	}
	return WebhookStep{WebhookSwap, fmt.Sprintf("webhook configuration trusts the new CA %s", short(staged))}
}

func decideRetire(f WebhookFacts, signer *x509.Certificate) WebhookStep {
	switch {
	case !containsCert(f.Live, signer):
		return WebhookStep{WebhookAwaitConfig, fmt.Sprintf("webhook configuration does not trust the serving CA %s yet", short(signer))}
	case len(f.Presented) == 0:
		return WebhookStep{WebhookAwaitInjector, "not yet seen which certificate the injector presents"}
	}
	for _, p := range f.Presented {
		if !p.Equal(f.Serving.Cert) {
			return WebhookStep{WebhookAwaitInjector, fmt.Sprintf("an injector pod still presents %s, not %s", short(p), short(f.Serving.Cert))}
		}
	}
	return WebhookStep{WebhookRetire, fmt.Sprintf("every injector pod presents %s", short(f.Serving.Cert))}
}

// StagedCAs is ca.crt when a new CA is staged: the unexpired CAs (the served
// pair's among them) followed by the new one.
func StagedCAs(cas []*x509.Certificate, next *x509.Certificate, now time.Time) []*x509.Certificate {
	out := slices.DeleteFunc(slices.Clone(cas), func(c *x509.Certificate) bool { return !now.Before(c.NotAfter) || c.Equal(next) })
	return append(out, next)
}

// signerOf is the CA of cas that signed kp, valid now; nil when none did.
func signerOf(cas []*x509.Certificate, kp *pki.KeyPair, now time.Time) *x509.Certificate {
	if kp == nil {
		return nil
	}
	for _, ca := range cas {
		if pki.VerifyIssuedBy(kp.Cert, ca, now) == nil {
			return ca
		}
	}
	return nil
}

func servesNames(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	return slices.ContainsFunc(certs, c.Equal)
}

func short(c *x509.Certificate) string { return pki.ShortFingerprint(pki.Fingerprint(c)) }
