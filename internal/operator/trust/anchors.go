package trust

import (
	"crypto/x509"
	"fmt"

	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// AnchorInputs is what decides which anchors a pass works with.
type AnchorInputs struct {
	// Desired is the anchor the source names now: the user's Secret, or the
	// generated anchor Secret (nil when that Secret is missing).
	Desired *pki.KeyPair
	// Pending is a generated rotation's new anchor Secret (nil when missing).
	Pending *pki.KeyPair
	// Generated is set for a generated source.
	Generated bool
	// Recorded is the anchor in effect after the last pass (status.trust.anchor).
	Recorded string
	// Target is the new anchor of a rotation under way (status.trust.rotation).
	Target string
	// Bundle is the published bundle; IssuerSigner the anchor of it (or of
	// Desired/Pending) that signed the current issuer, "" when none did.
	Bundle       []*x509.Certificate
	IssuerSigner string
}

// AnchorChoice is the anchor in effect and the one a rotation moves to.
type AnchorChoice struct {
	// Active is the anchor live workload certificates chain to. Its key is
	// nil when only its certificate is left (in the bundle).
	Active *pki.KeyPair
	// Next is the rotation's new anchor (nil: none pending). Its key is nil
	// when only its certificate is left.
	Next *pki.KeyPair
	// GenerateNext: a generated source has no anchor to move to; a new one
	// must be generated as the rotation's next.
	GenerateNext bool
	// Note explains an unusual choice, for an event ("" otherwise).
	Note string
}

// ChooseAnchors is the one rule that keeps trust from being cut over: an
// anchor live certificates chain to stays Active (from the bundle if its
// Secret is gone) until a rotation has moved every proxy off it, and the
// source's anchor, when it differs, becomes the rotation's Next. A rotation
// whose issuer already signs from its target is finished first (its target
// stays Next), since certificates chain to that target too; a target nothing
// chains to yet is simply replaced.
func ChooseAnchors(in AnchorInputs) (AnchorChoice, error) {
	if in.Desired != nil && (in.Recorded == pki.Fingerprint(in.Desired.Cert) || (in.Recorded == "" && in.Generated)) {
		// The source still names the anchor in effect (a status lost with a
		// generated anchor is read as that, as before it was recorded).
		return sameSource(in), nil
	}
	old := inBundle(in.Bundle, in.Recorded)
	if old == nil {
		old = inBundle(in.Bundle, in.IssuerSigner)
	}
	if old == nil && len(in.Bundle) == 1 {
		old = in.Bundle[0]
	}
	if old == nil {
		if len(in.Bundle) > 1 {
			return AnchorChoice{}, fmt.Errorf("the published bundle holds %d anchors and none is known to be in effect (status.trust.anchor is %q)", len(in.Bundle), pki.ShortFingerprint(in.Recorded))
		}
		// First publication.
		return AnchorChoice{Active: in.Desired, Next: in.Pending, GenerateNext: in.Desired == nil}, nil
	}
	oldFP := pki.Fingerprint(old)
	if matches(in.Desired, oldFP) {
		return sameSource(in), nil
	}
	// The source's anchor differs from the one in effect: a switch of source,
	// a replaced user Secret, or a deleted anchor Secret.
	c := AnchorChoice{Active: keyed(old, in.Pending)}
	switch {
	case committed(in, oldFP) && !matches(in.Desired, in.Target):
		c.Next = keyed(inBundle(in.Bundle, in.Target), in.Pending)
		c.Note = fmt.Sprintf("the anchor source changed during the rotation to %s, whose issuer already signs certificates; finishing that rotation first", pki.ShortFingerprint(in.Target))
	case in.Desired != nil:
		c.Next = in.Desired
	case in.Pending != nil:
		c.Next = in.Pending
	default:
		c.GenerateNext = true
	}
	return c, nil
}

// sameSource is the ordinary case: the source's anchor is in effect and a
// generated rotation's pending anchor is next. A pending anchor whose Secret
// is gone after the issuer moved to it stays next (from the bundle).
func sameSource(in AnchorInputs) AnchorChoice {
	c := AnchorChoice{Active: in.Desired, Next: in.Pending}
	if c.Next == nil && committed(in, pki.Fingerprint(in.Desired.Cert)) {
		c.Next = &pki.KeyPair{Cert: inBundle(in.Bundle, in.Target)}
		c.Note = fmt.Sprintf("the pending anchor Secret of the rotation to %s is gone but the issuer already signs from that anchor; finishing the rotation with its certificate from the bundle, then rotating to a fresh anchor", pki.ShortFingerprint(in.Target))
	}
	return c
}

// committed reports whether a rotation under way already issues from its
// target: certificates chain to it, so it must stay trusted.
func committed(in AnchorInputs, oldFP string) bool {
	return in.Target != "" && in.Target != oldFP && in.IssuerSigner == in.Target && inBundle(in.Bundle, in.Target) != nil
}

func matches(kp *pki.KeyPair, fp string) bool { return kp != nil && pki.Fingerprint(kp.Cert) == fp }

// keyed returns cert with the key of pending when pending is that anchor.
func keyed(cert *x509.Certificate, pending *pki.KeyPair) *pki.KeyPair {
	if matches(pending, pki.Fingerprint(cert)) {
		return pending
	}
	return &pki.KeyPair{Cert: cert}
}

func inBundle(bundle []*x509.Certificate, fp string) *x509.Certificate {
	if fp == "" {
		return nil
	}
	for _, c := range bundle {
		if pki.Fingerprint(c) == fp {
			return c
		}
	}
	return nil
}
