package controllers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

func TestSampleValidatesAgainstTheCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "config", "samples", "mesh_v1alpha1_meshinstallation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mi := &meshv1.MeshInstallation{}
	if err := yaml.UnmarshalStrict(raw, mi); err != nil {
		t.Fatalf("sample has unknown fields: %v", err)
	}
	mi.Name = "sample-dry-run"
	if err := k8s.Create(context.Background(), mi, client.DryRunAll); err != nil {
		t.Fatalf("the API server rejects the sample: %v", err)
	}
}

func TestCRDRejectsInvalidSpecs(t *testing.T) {
	lifetime := func(v, rb string) *meshv1.CertificateLifetime {
		l := &meshv1.CertificateLifetime{}
		_ = yaml.Unmarshal([]byte("validity: "+v+"\nrenewBefore: "+rb), l)
		return l
	}
	cases := []struct {
		name   string
		mutate func(mi *meshv1.MeshInstallation)
		want   string
	}{
		{"version not semver", func(mi *meshv1.MeshInstallation) { mi.Spec.Version = "latest" }, "spec.version"},
		{"renewBefore not shorter than validity", func(mi *meshv1.MeshInstallation) { mi.Spec.Trust.Issuer = lifetime("24h", "24h") }, "renewBefore must be shorter than validity"},
		{"validity too short", func(mi *meshv1.MeshInstallation) { mi.Spec.Trust.Anchor = lifetime("30s", "10s") }, "validity must be at least 1m"},
		{"duration not a duration", func(mi *meshv1.MeshInstallation) { mi.Spec.Trust.Anchor = lifetime("1y", "1d") }, "spec.trust.anchor"},
		{"too many replicas", func(mi *meshv1.MeshInstallation) { v := int32(50); mi.Spec.ControlPlane.Replicas = &v }, "spec.controlPlane.replicas"},
		{"bad mTLS mode", func(mi *meshv1.MeshInstallation) { mi.Spec.DataPlane.MTLSMode = "sometimes" }, "spec.dataPlane.mtlsMode"},
		{"bad redirect", func(mi *meshv1.MeshInstallation) { mi.Spec.DataPlane.Redirect = "cni" }, "spec.dataPlane.redirect"},
		{"bad namespace name", func(mi *meshv1.MeshInstallation) { mi.Spec.ControlPlane.Namespace = "Not_A_Namespace" }, "spec.controlPlane.namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mi := newInstallation("invalid", "mk-invalid")
			tc.mutate(mi)
			err := k8s.Create(context.Background(), mi, client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a rejection mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

// The API server defaults spec.dataPlane.redirect to InitContainer, so an
// installation that never names it keeps today's pods.
func TestCRDDefaultsRedirect(t *testing.T) {
	mi := newInstallation("redirect-default", "mk-redirect-default")
	mi.Spec.DataPlane = meshv1.DataPlaneSpec{}
	if err := k8s.Create(context.Background(), mi, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if mi.Spec.DataPlane.Redirect != meshv1.RedirectInitContainer {
		t.Fatalf("redirect defaulted to %q, want %s", mi.Spec.DataPlane.Redirect, meshv1.RedirectInitContainer)
	}
}

func TestImmutableFields(t *testing.T) {
	mi := newInstallation("immutable", "mk-immutable")
	mi.Spec.Paused = true // nothing to install: only the API server's rules are under test
	if err := createInstallation(t, mi); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mutate func(*meshv1.MeshInstallation)
		want   string
	}{
		{func(m *meshv1.MeshInstallation) { m.Spec.ControlPlane.Namespace = "elsewhere" }, "controlPlane.namespace is immutable"},
		{func(m *meshv1.MeshInstallation) { m.Spec.Trust.TrustDomain = "example.org" }, "trust.trustDomain is immutable"},
	} {
		if err := updateInstallation(t, "immutable", tc.mutate); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	// Mutable fields still change.
	if err := updateInstallation(t, "immutable", func(m *meshv1.MeshInstallation) { m.Spec.DataPlane.MTLSMode = meshv1.MTLSStrict }); err != nil {
		t.Fatalf("a mutable field was refused: %v", err)
	}
	eventually(t, "paused", conditionIs("immutable", meshv1.ConditionReconciling, metav1.ConditionFalse, meshv1.ReasonPaused))
}

func TestReconcileMetricsAreExported(t *testing.T) {
	installReady(t, "metrics", "mk-metrics")
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "meshinstallation" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no controller_runtime_reconcile_total for the meshinstallation controller")
	}
}

// updateInstallation applies mutate with a full update, retrying only on
// conflicts with the controller's own writes (finalizer, status).
func updateInstallation(t *testing.T, name string, mutate func(*meshv1.MeshInstallation)) error {
	t.Helper()
	for {
		mi := getInstallation(t, name)
		mutate(mi)
		err := k8s.Update(context.Background(), mi)
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}
