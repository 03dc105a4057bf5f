package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
	"github.com/meshkeeper/meshkeeper/internal/reconcileerr"
)

// Manager reads and writes the trust objects of one installation.
type Manager struct {
	// Client writes, and reads the cached kinds (namespaces, labelled ConfigMaps).
	Client client.Client
	// APIReader reads uncached. Secrets are always read this way: the operator
	// may read Secrets only in the namespaces it owns, so it never watches them
	// cluster-wide.
	APIReader client.Reader
	Clock     clock.PassiveClock
}

// Material is the trust state after a reconcile.
type Material struct {
	Anchor       *pki.KeyPair
	AnchorSource string
	// AnchorGenerated is set when this pass generated the trust anchor.
	AnchorGenerated bool
	Issuer          *pki.KeyPair
	// IssuerRenewed is set when this pass issued a new issuer, with the reason.
	IssuerRenewed string
	// WebhookCABundle is the PEM CA the apiserver uses to verify the injector.
	WebhookCABundle []byte
	Bundle          []*x509.Certificate
	// NextCheck is when trust needs attention again (an issuer or webhook renewal).
	NextCheck time.Time
}

// Reconcile makes the trust objects of mi match its spec, generating only what
// is missing or due, and never replacing an invalid input.
func (m *Manager) Reconcile(ctx context.Context, mi *meshv1.MeshInstallation) (*Material, error) {
	ns := mi.Spec.ControlPlane.Namespace
	now := m.Clock.Now()
	if err := m.ensureNamespace(ctx, ns, mi.Name); err != nil {
		return nil, err
	}
	out := &Material{}
	var err error
	if out.Anchor, out.AnchorSource, out.AnchorGenerated, err = m.ensureAnchor(ctx, mi, now); err != nil {
		return nil, err
	}
	if out.Issuer, out.IssuerRenewed, err = m.ensureIssuer(ctx, mi, out.Anchor, now); err != nil {
		return nil, err
	}
	webhookCA, webhookServing, err := m.ensureWebhookCertificate(ctx, mi, now)
	if err != nil {
		return nil, err
	}
	out.WebhookCABundle = webhookCA
	out.Bundle = []*x509.Certificate{out.Anchor.Cert}
	if err := m.publishBundle(ctx, mi.Name, pki.EncodeCertificates(out.Bundle...)); err != nil {
		return nil, err
	}
	out.NextCheck = NextCheck(now,
		pki.RenewalTime(out.Issuer.Cert, mi.Spec.Trust.IssuerLifetime().RenewBefore.Duration),
		pki.RenewalTime(webhookServing.Cert, webhookRenewBefore))
	return out, nil
}

func (m *Manager) ensureNamespace(ctx context.Context, name, installation string) error {
	var ns corev1.Namespace
	err := m.Client.Get(ctx, client.ObjectKey{Name: name}, &ns)
	if apierrors.IsNotFound(err) {
		ns = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{contract.InstallationLabel: installation}}}
		return client.IgnoreAlreadyExists(m.Client.Create(ctx, &ns))
	}
	return err
}

func (m *Manager) ensureAnchor(ctx context.Context, mi *meshv1.MeshInstallation, now time.Time) (kp *pki.KeyPair, source string, generated bool, err error) {
	ns := mi.Spec.ControlPlane.Namespace
	if ref := mi.Spec.Trust.AnchorSecretRef; ref != nil {
		kp, err = m.readKeyPair(ctx, ns, ref.Name)
		if err != nil {
			return nil, "", false, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "user-provided trust anchor %s/%s: %v", ns, ref.Name, err)
		}
		if err := pki.ValidateAnchor(kp, now); err != nil {
			return nil, "", false, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "user-provided trust anchor %s/%s is not usable: %v", ns, ref.Name, err)
		}
		return kp, meshv1.SourceUserProvided, false, nil
	}
	kp, err = m.readKeyPair(ctx, ns, AnchorSecret)
	if apierrors.IsNotFound(err) {
		kp, err = pki.GenerateAnchor(pki.AnchorRequest{TrustDomain: mi.Spec.Trust.TrustDomain, Now: now, Validity: mi.Spec.Trust.AnchorLifetime().Validity.Duration})
		if err != nil {
			return nil, "", false, err
		}
		if err := m.writeSecret(ctx, ns, AnchorSecret, mi.Name, map[string][]byte{keyCert: kp.CertPEM, keyKey: kp.KeyPEM}); err != nil {
			return nil, "", false, err
		}
		return kp, meshv1.SourceGenerated, true, nil
	}
	if err != nil {
		// A corrupt generated anchor is never replaced silently: every workload
		// certificate chains to it.
		return nil, "", false, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "trust anchor Secret %s/%s: %v", ns, AnchorSecret, err)
	}
	if err := pki.ValidateAnchor(kp, now); err != nil {
		return nil, "", false, reconcileerr.Stalledf(meshv1.ReasonInvalidAnchor, "trust anchor %s/%s: %v", ns, AnchorSecret, err)
	}
	return kp, meshv1.SourceGenerated, false, nil
}

func (m *Manager) ensureIssuer(ctx context.Context, mi *meshv1.MeshInstallation, anchor *pki.KeyPair, now time.Time) (*pki.KeyPair, string, error) {
	ns := mi.Spec.ControlPlane.Namespace
	var current *pki.KeyPair
	s, err := m.readSecret(ctx, ns, IssuerSecret)
	switch {
	case err == nil:
		// An unreadable issuer is replaced: it is the operator's own and is
		// re-derived from the anchor, so nothing is lost.
		current, _ = pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
	case !apierrors.IsNotFound(err):
		return nil, "", err
	}
	d := DecideIssuer(current, anchor, mi.Spec.Trust.IssuerLifetime().RenewBefore.Duration, now)
	if !d.Issue {
		return current, "", nil
	}
	issuer, err := pki.GenerateIssuer(pki.IssuerRequest{Anchor: anchor, TrustDomain: mi.Spec.Trust.TrustDomain, Now: now, Validity: mi.Spec.Trust.IssuerLifetime().Validity.Duration})
	if err != nil {
		return nil, "", err
	}
	data := map[string][]byte{keyCert: issuer.CertPEM, keyKey: issuer.KeyPEM, keyCA: anchor.CertPEM}
	if err := m.writeSecret(ctx, ns, IssuerSecret, mi.Name, data); err != nil {
		return nil, "", err
	}
	return issuer, d.Reason, nil
}

// ensureWebhookCertificate keeps the injector's serving certificate valid. Its
// CA key is discarded after signing: a renewal makes a new CA, so no key that
// could mint more serving certificates is ever stored.
func (m *Manager) ensureWebhookCertificate(ctx context.Context, mi *meshv1.MeshInstallation, now time.Time) (caPEM []byte, serving *pki.KeyPair, err error) {
	ns := mi.Spec.ControlPlane.Namespace
	s, err := m.readSecret(ctx, ns, InjectorTLSSecret)
	if client.IgnoreNotFound(err) != nil {
		return nil, nil, err
	}
	if s == nil {
		s = &corev1.Secret{}
	}
	names := InjectorDNSNames(ns)
	var caCert *x509.Certificate
	if cas, err := pki.ParseCertificates(s.Data[keyCA]); err == nil {
		caCert = cas[0]
	}
	serving, _ = pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
	if !WebhookNeedsCertificate(caCert, serving, names, now) {
		return s.Data[keyCA], serving, nil
	}
	ca, err := pki.GenerateServingCA("meshkeeper injector CA", now, webhookValidity)
	if err != nil {
		return nil, nil, err
	}
	if serving, err = pki.GenerateServing(pki.ServingRequest{CA: ca, DNSNames: names, Now: now, Validity: webhookValidity}); err != nil {
		return nil, nil, err
	}
	data := map[string][]byte{keyCert: serving.CertPEM, keyKey: serving.KeyPEM, keyCA: ca.CertPEM}
	return ca.CertPEM, serving, m.writeSecret(ctx, ns, InjectorTLSSecret, mi.Name, data)
}

// publishBundle writes the bundle ConfigMap into every namespace that may hold
// meshed pods, so proxies can mount it wherever they run.
func (m *Manager) publishBundle(ctx context.Context, installation string, bundlePEM []byte) error {
	var nsList corev1.NamespaceList
	if err := m.Client.List(ctx, &nsList); err != nil {
		return err
	}
	for _, ns := range nsList.Items {
		if systemNamespaces[ns.Name] || ns.DeletionTimestamp != nil {
			continue
		}
		if err := m.writeBundle(ctx, ns.Name, installation, string(bundlePEM)); err != nil {
			return fmt.Errorf("publish trust bundle to namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

func (m *Manager) writeBundle(ctx context.Context, namespace, installation, bundle string) error {
	want := map[string]string{BundleKey: bundle}
	var cm corev1.ConfigMap
	err := m.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: BundleConfigMap}, &cm)
	if apierrors.IsNotFound(err) {
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: BundleConfigMap, Labels: ownedLabels(installation)}, Data: want}
		err = m.Client.Create(ctx, &cm)
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		// Present but not in the label-filtered cache: adopt it.
		if err := m.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: BundleConfigMap}, &cm); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if maps.Equal(cm.Data, want) && cm.Labels[contract.InstallationLabel] == installation {
		return nil
	}
	cm.Data = want
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	maps.Copy(cm.Labels, ownedLabels(installation))
	return m.Client.Update(ctx, &cm)
}

func (m *Manager) readKeyPair(ctx context.Context, namespace, name string) (*pki.KeyPair, error) {
	s, err := m.readSecret(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
}

func (m *Manager) readSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := m.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (m *Manager) writeSecret(ctx context.Context, namespace, name, installation string, data map[string][]byte) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	var existing corev1.Secret
	err := m.APIReader.Get(ctx, client.ObjectKeyFromObject(s), &existing)
	if apierrors.IsNotFound(err) {
		s.Labels = ownedLabels(installation)
		s.Type = corev1.SecretTypeOpaque
		s.Data = data
		return m.Client.Create(ctx, s)
	}
	if err != nil {
		return err
	}
	existing.Data = data
	if existing.Labels == nil {
		existing.Labels = map[string]string{}
	}
	maps.Copy(existing.Labels, ownedLabels(installation))
	return m.Client.Update(ctx, &existing)
}

// Cleanup deletes every trust object the operator created for an installation.
// A user-provided anchor Secret is never touched.
func (m *Manager) Cleanup(ctx context.Context, mi *meshv1.MeshInstallation) error {
	ns := mi.Spec.ControlPlane.Namespace
	for _, name := range []string{AnchorSecret, IssuerSecret, InjectorTLSSecret} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := client.IgnoreNotFound(m.Client.Delete(ctx, s)); err != nil {
			return err
		}
	}
	var cms corev1.ConfigMapList
	if err := m.Client.List(ctx, &cms, client.MatchingLabels{contract.InstallationLabel: mi.Name}); err != nil {
		return err
	}
	for i := range cms.Items {
		if cms.Items[i].Name != BundleConfigMap {
			continue
		}
		if err := client.IgnoreNotFound(m.Client.Delete(ctx, &cms.Items[i])); err != nil {
			return err
		}
	}
	return nil
}

func ownedLabels(installation string) map[string]string {
	return map[string]string{contract.InstallationLabel: installation, "app.kubernetes.io/managed-by": "meshkeeper-operator"}
}
