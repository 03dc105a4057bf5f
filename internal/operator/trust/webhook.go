package trust

import (
	"context"
	"crypto/x509"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// ServingCertReader reports the leaf certificate each injector pod of the
// control plane in namespace presents. It fails when any pod that may serve
// cannot be read, so an unread pod never lets the old CA go.
type ServingCertReader interface {
	Presented(ctx context.Context, namespace string) ([]*x509.Certificate, error)
}

// ensureWebhookCertificate keeps the injector's serving certificate valid and
// renews it through overlapping CAs (DecideWebhook), one step per pass. It
// returns the caBundle the webhook configuration must carry and when to look
// again. A CA key is discarded after signing: a renewal makes a new CA, so no
// key that could mint more serving certificates is ever stored.
func (m *Manager) ensureWebhookCertificate(ctx context.Context, mi *meshv1.MeshInstallation, now time.Time) ([]byte, time.Time, error) {
	ns := mi.Spec.ControlPlane.Namespace
	f, err := m.webhookFacts(ctx, ns, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	step := DecideWebhook(f)
	logger := log.FromContext(ctx).WithValues("secret", ns+"/"+InjectorTLSSecret)
	if step.Action == WebhookAwaitInjector && m.Injector != nil {
		if f.Presented, err = m.Injector.Presented(ctx, ns); err != nil {
			logger.Info("cannot tell which serving certificate the injector presents; the old webhook CA stays trusted", "error", err.Error())
			f.Presented = nil
		}
		step = DecideWebhook(f)
	}
	if step.Action != WebhookKeep {
		logger.Info("webhook serving certificate", "action", step.Action, "reason", step.Reason)
	}
	return m.applyWebhook(ctx, mi, f, step)
}

// webhookFacts reads the Secret and, while a renewal is in progress, the live
// webhook configuration.
func (m *Manager) webhookFacts(ctx context.Context, ns string, now time.Time) (WebhookFacts, error) {
	f := WebhookFacts{Now: now, DNSNames: InjectorDNSNames(ns)}
	s, err := m.readSecret(ctx, ns, InjectorTLSSecret)
	if apierrors.IsNotFound(err) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	// Unreadable parts count as missing: DecideWebhook replaces what nothing can verify.
	f.CAs, _ = pki.ParseCertificates(s.Data[keyCA])
	f.Serving, _ = pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
	if _, ok := s.Data[contract.InjectorTLSNextCertKey]; ok {
		f.Staged, _ = pki.ParseKeyPair(s.Data[contract.InjectorTLSNextCertKey], s.Data[contract.InjectorTLSNextKeyKey])
	}
	if f.Staged != nil || len(f.CAs) > 1 {
		f.Live, err = m.liveCABundle(ctx, ns)
	}
	return f, err
}

// liveCABundle reads the caBundle the API server calls the injector with,
// uncached; nil when the configuration or its webhook is missing or the
// bundle is unreadable.
func (m *Manager) liveCABundle(ctx context.Context, ns string) ([]*x509.Certificate, error) {
	var wh admissionv1.MutatingWebhookConfiguration
	err := m.APIReader.Get(ctx, client.ObjectKey{Name: contract.InjectorWebhookConfigPrefix + ns}, &wh)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, w := range wh.Webhooks {
		if w.Name == contract.InjectorWebhookName {
			cas, _ := pki.ParseCertificates(w.ClientConfig.CABundle)
			return cas, nil
		}
	}
	return nil, nil
}

// applyWebhook carries out step with one write of the Secret, so every crash
// point leaves a state DecideWebhook resumes from.
func (m *Manager) applyWebhook(ctx context.Context, mi *meshv1.MeshInstallation, f WebhookFacts, step WebhookStep) ([]byte, time.Time, error) {
	ns, poll := mi.Spec.ControlPlane.Namespace, f.Now.Add(webhookPoll)
	var cas []*x509.Certificate
	var data map[string][]byte
	renewal := poll
	switch step.Action {
	case WebhookKeep:
		cas, renewal = f.CAs, pki.RenewalTime(f.Serving.Cert, webhookRenewBefore)
	case WebhookAwaitConfig, WebhookAwaitInjector:
		cas = f.CAs
	case WebhookCreate:
		ca, serving, err := generateWebhookPair(f)
		if err != nil {
			return nil, time.Time{}, err
		}
		cas, renewal = []*x509.Certificate{ca}, pki.RenewalTime(serving.Cert, webhookRenewBefore)
		data = servingData(serving, cas)
	case WebhookStage:
		ca, next, err := generateWebhookPair(f)
		if err != nil {
			return nil, time.Time{}, err
		}
		cas = StagedCAs(f.CAs, ca, f.Now)
		data = servingData(f.Serving, cas)
		data[contract.InjectorTLSNextCertKey], data[contract.InjectorTLSNextKeyKey] = next.CertPEM, next.KeyPEM
	case WebhookSwap:
		cas, data = f.CAs, servingData(f.Staged, f.CAs)
	case WebhookRetire:
		cas = []*x509.Certificate{signerOf(f.CAs, f.Serving, f.Now)}
		data, renewal = servingData(f.Serving, cas), pki.RenewalTime(f.Serving.Cert, webhookRenewBefore)
	}
	if data != nil {
		if err := m.writeSecret(ctx, ns, InjectorTLSSecret, mi.Name, data); err != nil {
			return nil, time.Time{}, err
		}
	}
	return pki.EncodeCertificates(cas...), renewal, nil
}

// generateWebhookPair makes a new serving CA and a serving pair it signs.
func generateWebhookPair(f WebhookFacts) (*x509.Certificate, *pki.KeyPair, error) {
	ca, err := pki.GenerateServingCA("meshkeeper injector CA", f.Now, webhookValidity)
	if err != nil {
		return nil, nil, err
	}
	serving, err := pki.GenerateServing(pki.ServingRequest{CA: ca, DNSNames: f.DNSNames, Now: f.Now, Validity: webhookValidity})
	if err != nil {
		return nil, nil, err
	}
	return ca.Cert, serving, nil
}

func servingData(serving *pki.KeyPair, cas []*x509.Certificate) map[string][]byte {
	return map[string][]byte{keyCert: serving.CertPEM, keyKey: serving.KeyPEM, keyCA: pki.EncodeCertificates(cas...)}
}
