package probe

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

// InjectorProber reports whether a pod created in a namespace now would be
// injected with the wanted proxy version (DryRunInjection).
type InjectorProber interface {
	Probe(ctx context.Context, namespace, wantProxy string) error
}

// IdentityProber reports whether the identity service of the control plane in
// a namespace issues certificates of a trust domain that verify to roots
// (IdentityIssuance).
type IdentityProber interface {
	Probe(ctx context.Context, controlPlaneNS, trustDomain string, roots []*x509.Certificate) error
}

// ControlPlane is the whole control-plane probe, shared by Ready (lifecycle)
// and the upgrade's control-plane gate: the identity service issues a
// certificate that verifies to the published bundle, and the injector answers
// admission with the wanted proxy. A nil prober is skipped.
type ControlPlane struct {
	Client   client.Client // reads the published trust bundle
	Injector InjectorProber
	Identity IdentityProber
}

// Probe runs both probes; injectorNS is where the dry-run pod is created.
func (p *ControlPlane) Probe(ctx context.Context, mi *meshv1.MeshInstallation, injectorNS, wantProxy string) error {
	cpNS := mi.Spec.ControlPlane.Namespace
	if p.Identity != nil {
		var cm corev1.ConfigMap
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
			return fmt.Errorf("trust bundle: %w", err)
		}
		roots, err := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
		if err != nil {
			return fmt.Errorf("trust bundle: %w", err)
		}
		if err := p.Identity.Probe(ctx, cpNS, mi.Spec.Trust.TrustDomain, roots); err != nil {
			return err
		}
	}
	if p.Injector != nil {
		return p.Injector.Probe(ctx, injectorNS, wantProxy)
	}
	return nil
}

// ProbesInjector reports whether the injector is probed at all.
func (p *ControlPlane) ProbesInjector() bool { return p != nil && p.Injector != nil }
