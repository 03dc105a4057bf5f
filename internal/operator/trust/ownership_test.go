package trust

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/pki"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

// The trust objects of installation "mesh" must survive every write and
// delete that installation "mesh2" attempts.
func TestObjectsOfAnotherInstallationAreNeverTouched(t *testing.T) {
	ctx := context.Background()
	const ns = "meshkeeper-system"
	owned := map[string]string{contract.InstallationLabel: "mesh"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: BundleConfigMap, Labels: owned}, Data: map[string]string{BundleKey: "mesh's bundle"}},
	}
	for _, name := range []string{AnchorSecret, NextAnchorSecret, IssuerSecret, InjectorTLSSecret} {
		objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: owned}, Data: map[string][]byte{"tls.crt": []byte(name)}})
	}
	// Creating an object nobody holds is not touching another's: only writes
	// to the objects above are refused.
	var touched []string
	faults := &kubeenv.Faults{Written: func(verb string, obj client.Object) {
		for _, o := range objs {
			if o.GetNamespace() == obj.GetNamespace() && o.GetName() == obj.GetName() {
				touched = append(touched, verb+" "+obj.GetNamespace()+"/"+obj.GetName())
			}
		}
	}}
	c := kubeenv.NewFakeClient(faults, objs...)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &Manager{Client: c, APIReader: c, Clock: clocktesting.NewFakePassiveClock(now)}
	mesh2 := &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: "mesh2"}}
	mesh2.Spec.ControlPlane.Namespace = ns
	mesh2.Spec.Trust.TrustDomain = "cluster.local"
	anchor, err := pki.GenerateAnchor(pki.AnchorRequest{Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	attempts := map[string]func() error{
		"Cleanup":              func() error { return m.Cleanup(ctx, mesh2) },
		"PublishBundle":        func() error { return m.PublishBundle(ctx, mesh2, []*x509.Certificate{anchor.Cert}) },
		"Promote":              func() error { return m.Promote(ctx, mesh2, anchor) },
		"GenerateNext":         func() error { _, err := m.GenerateNext(ctx, mesh2); return err },
		"IssueIssuer":          func() error { _, err := m.IssueIssuer(ctx, mesh2, anchor); return err },
		"ReplaceExpiredAnchor": func() error { _, err := m.ReplaceExpiredAnchor(ctx, mesh2); return err },
	}
	for name, attempt := range attempts {
		err := attempt()
		if s, ok := reconcileerr.AsStalled(err); !ok || s.Reason != meshv1.ReasonConflict {
			t.Errorf("%s: want Stalled/Conflict, got %v", name, err)
		}
	}
	if len(touched) != 0 {
		t.Errorf("another installation's objects were written: %v", touched)
	}
	for _, name := range []string{AnchorSecret, NextAnchorSecret, IssuerSecret, InjectorTLSSecret} {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			t.Fatalf("secret %s: %v", name, err)
		}
		if string(s.Data["tls.crt"]) != name || s.Labels[contract.InstallationLabel] != "mesh" {
			t.Errorf("secret %s was changed: %v %v", name, s.Labels, s.Data)
		}
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: BundleConfigMap}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data[BundleKey] != "mesh's bundle" || cm.Labels[contract.InstallationLabel] != "mesh" {
		t.Errorf("bundle was changed: %v %v", cm.Labels, cm.Data)
	}
}
