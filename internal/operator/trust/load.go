package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// State is the trust material of an installation as found (after creating
// whatever was missing on a first install).
type State struct {
	// Source is Generated or UserProvided.
	Source string
	// Active is the anchor in effect. Its key is nil when only its
	// certificate is left, in the published bundle (a replaced user anchor,
	// a switched source, a deleted anchor Secret).
	Active *pki.KeyPair
	// Next is a pending new anchor: a generated one waiting to be promoted,
	// or the source's anchor when it differs from Active. Nil when no
	// rotation is pending.
	Next *pki.KeyPair
	// Note explains an unusual choice of anchors (a missing Secret, a
	// switched source), for an event; "" otherwise.
	Note string
	// Trigger names why a rotation starts when none is recorded.
	Trigger string
	// AnchorGenerated is set when this pass generated the first anchor.
	AnchorGenerated bool
	// ActiveExpired is set when the active anchor is past its NotAfter.
	ActiveExpired bool
	// Bundle is the published set of anchors (nil before the first publication).
	Bundle []*x509.Certificate
	// Issuer is the current identity issuer (nil when missing or unreadable)
	// and IssuerSigner the fingerprint of the anchor (in the bundle, or Active
	// or Next) that signed it ("" when none did).
	Issuer       *pki.KeyPair
	IssuerSigner string
	// WebhookCABundle verifies the injector's serving certificate.
	WebhookCABundle []byte
	// WebhookRenewal is when the injector's serving certificate is renewed.
	WebhookRenewal time.Time
}

// Load reads the trust objects of mi, creating the namespace, a first
// generated anchor and the injector's serving certificate when missing. The
// anchors in effect are chosen by ChooseAnchors, so a changed source never
// cuts trust over. An invalid input is reported as Stalled and never replaced.
func (m *Manager) Load(ctx context.Context, mi *meshv1.MeshInstallation) (*State, error) {
	ns := mi.Spec.ControlPlane.Namespace
	now := m.Clock.Now()
	if err := m.ensureNamespace(ctx, ns, mi.Name); err != nil {
		return nil, err
	}
	ctx = m.prefetch(ctx, firstReads(mi))
	st := &State{}
	var err error
	if st.Bundle, err = m.readBundle(ctx, ns); err != nil {
		return nil, err
	}
	in := AnchorInputs{Bundle: st.Bundle}
	if mi.Spec.Trust.AnchorSecretRef != nil {
		st.Source = meshv1.SourceUserProvided
		in.Desired, err = m.readUserAnchor(ctx, mi, now)
	} else {
		st.Source, in.Generated = meshv1.SourceGenerated, true
		in.Desired, in.Pending, err = m.readGeneratedAnchors(ctx, ns)
	}
	if err != nil {
		return nil, err
	}
	if err := m.loadIssuer(ctx, ns, st, append(slices.Clone(st.Bundle), certs(in.Desired, in.Pending)...)); err != nil {
		return nil, err
	}
	if a := mi.Status.Trust.Anchor; a != nil {
		in.Recorded = a.Fingerprint
	}
	if r := mi.Status.Trust.Rotation; r != nil {
		in.Target = r.NewAnchor
	}
	in.IssuerSigner = st.IssuerSigner
	choice, err := ChooseAnchors(in)
	if err != nil {
		return nil, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "trust bundle %s/%s: %v; restore status.trust.anchor or the anchor Secret", ns, BundleConfigMap, err)
	}
	st.Active, st.Next, st.Note = choice.Active, choice.Next, choice.Note
	if choice.GenerateNext {
		if err := m.generateMissing(ctx, mi, st, now); err != nil {
			return nil, err
		}
	}
	st.Trigger = trigger(mi, st)
	st.ActiveExpired = !now.Before(st.Active.Cert.NotAfter)
	if st.WebhookCABundle, st.WebhookRenewal, err = m.ensureWebhookCertificate(ctx, mi, now); err != nil {
		return nil, err
	}
	return st, nil
}

// generateMissing makes the generated anchor nothing holds yet: the first one
// (stored as the anchor), or, when the anchor in effect survives only in the
// bundle, a new one stored as the rotation's next so the phases move every
// proxy over before the old certificate leaves the bundle.
func (m *Manager) generateMissing(ctx context.Context, mi *meshv1.MeshInstallation, st *State, now time.Time) error {
	ns := mi.Spec.ControlPlane.Namespace
	kp, err := m.generateAnchor(mi, now)
	if err != nil {
		return err
	}
	if st.Active == nil {
		st.Active, st.AnchorGenerated = kp, true
		return m.writeSecret(ctx, ns, AnchorSecret, mi.Name, anchorData(kp))
	}
	if err := m.writeSecret(ctx, ns, NextAnchorSecret, mi.Name, anchorData(kp)); err != nil {
		return err
	}
	st.Next = kp
	what := fmt.Sprintf("trust anchor Secret %s/%s is missing", ns, AnchorSecret)
	if a := mi.Status.Trust.Anchor; a != nil && a.Source == meshv1.SourceUserProvided {
		what = "spec.trust.anchorSecretRef was removed"
	}
	st.Note = fmt.Sprintf("%s; anchor %s stays in the published bundle (its certificate only) while a rotation moves every proxy to the new generated anchor %s",
		what, pki.ShortFingerprint(pki.Fingerprint(st.Active.Cert)), pki.ShortFingerprint(pki.Fingerprint(kp.Cert)))
	return nil
}

// trigger names why a rotation starts when none is recorded.
func trigger(mi *meshv1.MeshInstallation, st *State) string {
	a := mi.Status.Trust.Anchor
	switch {
	case a != nil && a.Source != st.Source:
		return meshv1.TriggerAnchorSourceChanged
	case st.Source == meshv1.SourceUserProvided:
		return meshv1.TriggerUserAnchorChanged
	case st.Active.Key == nil:
		return meshv1.TriggerAnchorLost
	}
	return meshv1.TriggerScheduled
}

// readGeneratedAnchors reads the generated anchor and a pending one; either
// is nil when its Secret is missing. A corrupt one is never replaced
// silently: every workload certificate may chain to it.
func (m *Manager) readGeneratedAnchors(ctx context.Context, ns string) (active, pending *pki.KeyPair, err error) {
	for _, s := range []struct {
		name string
		into **pki.KeyPair
	}{{AnchorSecret, &active}, {NextAnchorSecret, &pending}} {
		kp, err := m.readKeyPair(ctx, ns, s.name)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, nil, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "trust anchor Secret %s/%s: %v", ns, s.name, err)
		default:
			*s.into = kp
		}
	}
	return active, pending, nil
}

// readUserAnchor reads and checks the user's anchor.
func (m *Manager) readUserAnchor(ctx context.Context, mi *meshv1.MeshInstallation, now time.Time) (*pki.KeyPair, error) {
	ns, name := mi.Spec.ControlPlane.Namespace, mi.Spec.Trust.AnchorSecretRef.Name
	kp, err := m.readKeyPair(ctx, ns, name)
	if err != nil {
		return nil, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "user-provided trust anchor %s/%s: %v", ns, name, err)
	}
	if err := pki.ValidateAnchor(kp, now); err != nil {
		return nil, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "user-provided trust anchor %s/%s is not usable: %v", ns, name, err)
	}
	return kp, nil
}

// loadIssuer reads the issuer and finds which of candidates signed it.
func (m *Manager) loadIssuer(ctx context.Context, ns string, st *State, candidates []*x509.Certificate) error {
	s, err := m.readSecret(ctx, ns, IssuerSecret)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// An unreadable issuer is the operator's own and is re-derived from an
	// anchor, so it is treated as missing rather than as an input error.
	issuer, perr := pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
	if perr != nil {
		return nil
	}
	st.Issuer = issuer
	for _, a := range candidates {
		if pki.VerifyIssuedBy(issuer.Cert, a, issuer.Cert.NotBefore.Add(time.Second)) == nil {
			st.IssuerSigner = pki.Fingerprint(a)
			return nil
		}
	}
	return nil
}

func certs(kps ...*pki.KeyPair) []*x509.Certificate {
	var out []*x509.Certificate
	for _, kp := range kps {
		if kp != nil {
			out = append(out, kp.Cert)
		}
	}
	return out
}

func (m *Manager) generateAnchor(mi *meshv1.MeshInstallation, now time.Time) (*pki.KeyPair, error) {
	return pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: mi.Spec.Trust.TrustDomain, Now: now, Validity: mi.Spec.Trust.AnchorLifetime().Validity.Duration})
}

func anchorData(kp *pki.KeyPair) map[string][]byte {
	return map[string][]byte{keyCert: kp.CertPEM, keyKey: kp.KeyPEM}
}
