package trust

import (
	"context"
	"crypto/x509"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// State is the trust material of an installation as found (after creating
// whatever was missing on a first install).
type State struct {
	// Source is Generated or UserProvided.
	Source string
	// Active is the anchor in effect. Its key is nil only for a user-provided
	// anchor the user has already replaced (the old certificate then comes
	// from the published bundle).
	Active *pki.KeyPair
	// Next is a pending new anchor: a generated one waiting to be promoted, or
	// the user's replacement anchor. Nil when no rotation is pending.
	Next *pki.KeyPair
	// AnchorGenerated is set when this pass generated the first anchor.
	AnchorGenerated bool
	// ActiveExpired is set when the active anchor is past its NotAfter.
	ActiveExpired bool
	// Bundle is the published set of anchors (nil before the first publication).
	Bundle []*x509.Certificate
	// Issuer is the current identity issuer (nil when missing or unreadable)
	// and IssuerSigner the fingerprint of the anchor (Active or Next) that
	// signed it ("" when neither did).
	Issuer       *pki.KeyPair
	IssuerSigner string
	// WebhookCABundle verifies the injector's serving certificate.
	WebhookCABundle []byte
	// WebhookRenewal is when the injector's serving certificate is renewed.
	WebhookRenewal time.Time
}

// Load reads the trust objects of mi, creating the namespace, a first
// generated anchor and the injector's serving certificate when missing. An
// invalid input is reported as Stalled and never replaced.
func (m *Manager) Load(ctx context.Context, mi *meshv1.MeshInstallation) (*State, error) {
	ns := mi.Spec.ControlPlane.Namespace
	now := m.Clock.Now()
	if err := m.ensureNamespace(ctx, ns, mi.Name); err != nil {
		return nil, err
	}
	st := &State{}
	var err error
	if st.Bundle, err = m.readBundle(ctx, ns); err != nil {
		return nil, err
	}
	if mi.Spec.Trust.AnchorSecretRef != nil {
		err = m.loadUserAnchor(ctx, mi, st, now)
	} else {
		err = m.loadGeneratedAnchor(ctx, mi, st, now)
	}
	if err != nil {
		return nil, err
	}
	st.ActiveExpired = !now.Before(st.Active.Cert.NotAfter)
	if err := m.loadIssuer(ctx, ns, st); err != nil {
		return nil, err
	}
	if st.WebhookCABundle, st.WebhookRenewal, err = m.ensureWebhookCertificate(ctx, mi, now); err != nil {
		return nil, err
	}
	return st, nil
}

func (m *Manager) loadGeneratedAnchor(ctx context.Context, mi *meshv1.MeshInstallation, st *State, now time.Time) error {
	ns := mi.Spec.ControlPlane.Namespace
	st.Source = meshv1.SourceGenerated
	kp, err := m.readKeyPair(ctx, ns, AnchorSecret)
	switch {
	case apierrors.IsNotFound(err):
		if kp, err = m.generateAnchor(mi, now); err != nil {
			return err
		}
		if err := m.writeSecret(ctx, ns, AnchorSecret, mi.Name, anchorData(kp)); err != nil {
			return err
		}
		st.AnchorGenerated = true
	case err != nil:
		// A corrupt anchor is never replaced silently: every workload
		// certificate chains to it.
		return reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "trust anchor Secret %s/%s: %v", ns, AnchorSecret, err)
	}
	st.Active = kp
	next, err := m.readKeyPair(ctx, ns, NextAnchorSecret)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "pending trust anchor Secret %s/%s: %v", ns, NextAnchorSecret, err)
	default:
		st.Next = next
	}
	return nil
}

// loadUserAnchor reads the user's anchor. When its fingerprint differs from
// the one recorded in status, the user replaced it: the replacement becomes
// Next and the recorded anchor (from the bundle) stays Active until the
// rotation completes.
func (m *Manager) loadUserAnchor(ctx context.Context, mi *meshv1.MeshInstallation, st *State, now time.Time) error {
	ns, name := mi.Spec.ControlPlane.Namespace, mi.Spec.Trust.AnchorSecretRef.Name
	st.Source = meshv1.SourceUserProvided
	kp, err := m.readKeyPair(ctx, ns, name)
	if err != nil {
		return reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "user-provided trust anchor %s/%s: %v", ns, name, err)
	}
	if err := pki.ValidateAnchor(kp, now); err != nil {
		return reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "user-provided trust anchor %s/%s is not usable: %v", ns, name, err)
	}
	st.Active = kp
	recorded := mi.Status.Trust.Anchor
	if recorded == nil || recorded.Source != meshv1.SourceUserProvided || recorded.Fingerprint == pki.Fingerprint(kp.Cert) {
		return nil
	}
	for _, c := range st.Bundle {
		if pki.Fingerprint(c) == recorded.Fingerprint {
			st.Active, st.Next = &pki.KeyPair{Cert: c}, kp
			return nil
		}
	}
	return nil // the recorded anchor is no longer published: nothing left to keep trusting
}

func (m *Manager) loadIssuer(ctx context.Context, ns string, st *State) error {
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
	for _, a := range []*pki.KeyPair{st.Active, st.Next} {
		if a != nil && pki.VerifyIssuedBy(issuer.Cert, a.Cert, issuer.Cert.NotBefore.Add(time.Second)) == nil {
			st.IssuerSigner = pki.Fingerprint(a.Cert)
			return nil
		}
	}
	return nil
}

func (m *Manager) generateAnchor(mi *meshv1.MeshInstallation, now time.Time) (*pki.KeyPair, error) {
	return pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: mi.Spec.Trust.TrustDomain, Now: now, Validity: mi.Spec.Trust.AnchorLifetime().Validity.Duration})
}

func anchorData(kp *pki.KeyPair) map[string][]byte {
	return map[string][]byte{keyCert: kp.CertPEM, keyKey: kp.KeyPEM}
}

// ensureWebhookCertificate keeps the injector's serving certificate valid. Its
// CA key is discarded after signing: a renewal makes a new CA, so no key that
// could mint more serving certificates is ever stored.
func (m *Manager) ensureWebhookCertificate(ctx context.Context, mi *meshv1.MeshInstallation, now time.Time) ([]byte, time.Time, error) {
	ns := mi.Spec.ControlPlane.Namespace
	s, err := m.readSecret(ctx, ns, InjectorTLSSecret)
	if client.IgnoreNotFound(err) != nil {
		return nil, time.Time{}, err
	}
	names := InjectorDNSNames(ns)
	if s != nil {
		var caCert *x509.Certificate
		if cas, err := pki.ParseCertificates(s.Data[keyCA]); err == nil {
			caCert = cas[0]
		}
		serving, _ := pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
		if !WebhookNeedsCertificate(caCert, serving, names, now) {
			return s.Data[keyCA], pki.RenewalTime(serving.Cert, webhookRenewBefore), nil
		}
	}
	ca, err := pki.GenerateServingCA("meshkeeper injector CA", now, webhookValidity)
	if err != nil {
		return nil, time.Time{}, err
	}
	serving, err := pki.GenerateServing(pki.ServingRequest{CA: ca, DNSNames: names, Now: now, Validity: webhookValidity})
	if err != nil {
		return nil, time.Time{}, err
	}
	data := map[string][]byte{keyCert: serving.CertPEM, keyKey: serving.KeyPEM, keyCA: ca.CertPEM}
	if err := m.writeSecret(ctx, ns, InjectorTLSSecret, mi.Name, data); err != nil {
		return nil, time.Time{}, err
	}
	return ca.CertPEM, pki.RenewalTime(serving.Cert, webhookRenewBefore), nil
}
