package trust

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// PublishBundle writes the anchors to the control-plane namespace (the source
// of truth) and copies them into every namespace that may hold meshed pods,
// the way Kubernetes publishes kube-root-ca.crt.
func (m *Manager) PublishBundle(ctx context.Context, mi *meshv1.MeshInstallation, anchors []*x509.Certificate) error {
	if len(anchors) == 0 {
		return fmt.Errorf("refusing to publish an empty trust bundle")
	}
	pem := string(pki.EncodeCertificates(anchors...))
	if err := m.writeBundle(ctx, mi.Spec.ControlPlane.Namespace, mi.Name, pem); err != nil {
		return err
	}
	// Both lists are the cache's own objects, read-only: copying 200
	// namespaces and their bundles on every pass was most of an unchanged
	// pass's garbage at bench-operator's large point.
	var nsList corev1.NamespaceList
	if err := m.Client.List(ctx, &nsList, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	current, err := m.publishedBundles(ctx, mi.Name, pem)
	if err != nil {
		return err
	}
	for _, ns := range nsList.Items {
		if systemNamespaces[ns.Name] || ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating || current[ns.Name] {
			continue
		}
		if err := m.writeBundle(ctx, ns.Name, mi.Name, pem); err != nil {
			return fmt.Errorf("publish trust bundle to namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

// publishedBundles names the namespaces whose cached bundle is already
// exactly what writeBundle would leave there (this content, labelled for this
// installation): writeBundle would return at once for them.
func (m *Manager) publishedBundles(ctx context.Context, installation, pem string) (map[string]bool, error) {
	var cms corev1.ConfigMapList
	if err := m.Client.List(ctx, &cms, client.MatchingLabels{contract.InstallationLabel: installation}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(cms.Items))
	for i := range cms.Items {
		cm := &cms.Items[i]
		if cm.Name == BundleConfigMap && len(cm.Data) == 1 && cm.Data[BundleKey] == pem && len(cm.BinaryData) == 0 {
			out[cm.Namespace] = true
		}
	}
	return out, nil
}

// IssueIssuer signs a new identity issuer with signer and stores it for the
// identity service, which reloads it without a restart.
func (m *Manager) IssueIssuer(ctx context.Context, mi *meshv1.MeshInstallation, signer *pki.KeyPair) (*pki.KeyPair, error) {
	if signer.Key == nil {
		return nil, fmt.Errorf("anchor %s has no key here to sign an issuer with", pki.Fingerprint(signer.Cert)[:12])
	}
	issuer, err := pki.GenerateIssuer(pki.IssuerRequest{Anchor: signer, TrustDomain: mi.Spec.Trust.TrustDomain,
		Now: m.Clock.Now(), Validity: mi.Spec.Trust.IssuerLifetime().Validity.Duration})
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{keyCert: issuer.CertPEM, keyKey: issuer.KeyPEM, keyCA: signer.CertPEM}
	return issuer, m.writeSecret(ctx, mi.Spec.ControlPlane.Namespace, IssuerSecret, mi.Name, data)
}

// GenerateNext makes the pending anchor of a rotation and stores it before
// anything else refers to it, so a crash never yields a second one.
func (m *Manager) GenerateNext(ctx context.Context, mi *meshv1.MeshInstallation) (*pki.KeyPair, error) {
	kp, err := m.generateAnchor(mi, m.Clock.Now())
	if err != nil {
		return nil, err
	}
	return kp, m.writeSecret(ctx, mi.Spec.ControlPlane.Namespace, NextAnchorSecret, mi.Name, anchorData(kp))
}

// Promote makes next the active anchor: first the active Secret is
// overwritten, then the pending one removed, so every crash point leaves at
// least one copy of the new key. A user-provided anchor is in the user's
// Secret already: the generated anchors left from before are removed. A next
// anchor whose key is gone (only its certificate survived) cannot be stored:
// the generated Secrets are removed, so the next pass rotates once more to a
// fresh anchor with a key, through the same phases.
func (m *Manager) Promote(ctx context.Context, mi *meshv1.MeshInstallation, next *pki.KeyPair) error {
	ns := mi.Spec.ControlPlane.Namespace
	if mi.Spec.Trust.AnchorSecretRef == nil && next.Key != nil {
		if err := m.writeSecret(ctx, ns, AnchorSecret, mi.Name, anchorData(next)); err != nil {
			return err
		}
		return m.deleteSecret(ctx, ns, NextAnchorSecret, mi.Name)
	}
	for _, name := range []string{NextAnchorSecret, AnchorSecret} {
		if err := m.deleteSecret(ctx, ns, name, mi.Name); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceExpiredAnchor is the recovery path: a new anchor replaces an expired
// one outright. Traffic between pods fails until both ends hold certificates
// under the new anchor, which the caller ensures by restarting them.
func (m *Manager) ReplaceExpiredAnchor(ctx context.Context, mi *meshv1.MeshInstallation) (*pki.KeyPair, error) {
	kp, err := m.generateAnchor(mi, m.Clock.Now())
	if err != nil {
		return nil, err
	}
	ns := mi.Spec.ControlPlane.Namespace
	if err := m.writeSecret(ctx, ns, AnchorSecret, mi.Name, anchorData(kp)); err != nil {
		return nil, err
	}
	return kp, m.deleteSecret(ctx, ns, NextAnchorSecret, mi.Name)
}

// Cleanup deletes every trust object the operator created for an installation.
// A user-provided anchor Secret is never touched.
func (m *Manager) Cleanup(ctx context.Context, mi *meshv1.MeshInstallation) error {
	ns := mi.Spec.ControlPlane.Namespace
	for _, name := range []string{AnchorSecret, NextAnchorSecret, IssuerSecret, InjectorTLSSecret} {
		if err := m.deleteSecret(ctx, ns, name, mi.Name); err != nil {
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
