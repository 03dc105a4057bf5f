package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/ownership"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Manager reads and writes the trust objects of one installation.
type Manager struct {
	// Client writes, and reads the cached kinds (namespaces, labelled ConfigMaps).
	Client client.Client
	// APIReader reads uncached. Secrets are read this way, except in a
	// steady pass's cached trial (Cached): the operator may watch Secrets
	// only in its own namespace, never cluster-wide.
	APIReader client.Reader
	Clock     clock.PassiveClock
	// Injector reads the serving certificate the injector presents; nil
	// keeps a renewal's old webhook CA trusted (it is never dropped unseen).
	Injector ServingCertReader
	// Cached, when set, serves the trust objects of its namespace from
	// informers to rotation.Runner's cached trial; nil reads every pass past
	// the cache.
	Cached *Cached
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

func (m *Manager) readSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if o, err, ok := take(ctx, "Secret", namespace, name); ok {
		if err != nil {
			return nil, err
		}
		return o.(*corev1.Secret), nil
	}
	var s corev1.Secret
	if err := m.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (m *Manager) readKeyPair(ctx context.Context, namespace, name string) (*pki.KeyPair, error) {
	s, err := m.readSecret(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return pki.ParseKeyPair(s.Data[keyCert], s.Data[keyKey])
}

func (m *Manager) writeSecret(ctx context.Context, namespace, name, installation string, data map[string][]byte) error {
	existing, err := m.readSecret(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: ownedLabels(installation)},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		return m.Client.Create(ctx, s)
	}
	if err != nil {
		return err
	}
	if err := ownership.Check("Secret", namespace+"/"+name, existing.Labels[contract.InstallationLabel], installation); err != nil {
		return err
	}
	existing.Data = data
	if existing.Labels == nil {
		existing.Labels = map[string]string{}
	}
	maps.Copy(existing.Labels, ownedLabels(installation))
	return m.Client.Update(ctx, existing)
}

// deleteSecret deletes a Secret only if it is the installation's (or
// unlabelled), and only the very object read: the preconditions stop a delete
// of a Secret another installation re-created in between.
func (m *Manager) deleteSecret(ctx context.Context, namespace, name, installation string) error {
	s, err := m.readSecret(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := ownership.Check("Secret", namespace+"/"+name, s.Labels[contract.InstallationLabel], installation); err != nil {
		return err
	}
	return client.IgnoreNotFound(m.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion}))
}

// readBundle returns the anchors published in the control-plane namespace,
// the source every other namespace's copy follows; nil when none is yet.
func (m *Manager) readBundle(ctx context.Context, namespace string) ([]*x509.Certificate, error) {
	cm := &corev1.ConfigMap{}
	o, err, ok := take(ctx, "ConfigMap", namespace, BundleConfigMap)
	if ok && err == nil {
		cm = o.(*corev1.ConfigMap)
	} else if !ok {
		err = m.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: BundleConfigMap}, cm)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates([]byte(cm.Data[BundleKey]))
	if err != nil {
		return nil, fmt.Errorf("trust bundle %s/%s: %w", namespace, BundleConfigMap, err)
	}
	return certs, nil
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
	if err := ownership.Check("ConfigMap", namespace+"/"+BundleConfigMap, cm.Labels[contract.InstallationLabel], installation); err != nil {
		return err
	}
	if maps.Equal(cm.Data, want) && cm.Labels[contract.InstallationLabel] == installation {
		return nil
	}
	// A merge patch without a resourceVersion: the cache may lag the last
	// write, and the operator alone owns this content.
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data = want
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	maps.Copy(cm.Labels, ownedLabels(installation))
	return m.Client.Patch(ctx, &cm, patch)
}

func ownedLabels(installation string) map[string]string {
	return map[string]string{contract.InstallationLabel: installation, "app.kubernetes.io/managed-by": "meshkeeper-operator"}
}
