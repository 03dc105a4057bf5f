package controllers

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshkeeper/meshkeeper/internal/operator/opmetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
)

// gaugeOf reads one series of the manager's registry: the value of metric
// name for the installation with the given extra label pairs.
func gaugeOf(name, installation string, labels ...string) (float64, error) {
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	want := map[string]string{opmetrics.LabelInstallation: installation}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, want) {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue(), nil
				}
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("%s%v: no series", name, want)
}

func matches(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// The manager's metrics endpoint reports the expiry of the certificates the
// operator stored, the data-plane counts and the idle machines; deleting the
// installation removes its series.
func TestOperatorMetricsMatchTheStoredCertificates(t *testing.T) {
	mi := installReady(t, "opmetrics", "mk-opmetrics")
	anchor := secretKeyPair(t, "mk-opmetrics", trust.AnchorSecret)
	issuer := secretKeyPair(t, "mk-opmetrics", trust.IssuerSecret)
	for _, c := range []struct {
		cert string
		want time.Time
	}{{opmetrics.CertAnchor, anchor.Cert.NotAfter}, {opmetrics.CertIssuer, issuer.Cert.NotAfter}} {
		eventually(t, c.cert+" expiry metric", func() error {
			got, err := gaugeOf(opmetrics.CertificateExpiry, mi.Name, opmetrics.LabelCertificate, c.cert)
			if err != nil {
				return err
			}
			if got != float64(c.want.Unix()) {
				return fmt.Errorf("%s expiry %v, stored certificate's notAfter %v", c.cert, time.Unix(int64(got), 0).UTC(), c.want.UTC())
			}
			return nil
		})
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{opmetrics.RotationPhase, []string{opmetrics.LabelPhase, opmetrics.RotationIdle}, 1},
		{opmetrics.UpgradePhase, []string{opmetrics.LabelPhase, opmetrics.UpgradeNone}, 1},
		{opmetrics.UnmeshedPods, nil, float64(getInstallation(t, mi.Name).Status.DataPlane.UnmeshedPods)},
	} {
		got, err := gaugeOf(c.name, mi.Name, c.labels...)
		if err != nil || got != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, got, err, c.want)
		}
	}
	deleteInstallation(t, mi.Name)
	if _, err := gaugeOf(opmetrics.CertificateExpiry, mi.Name, opmetrics.LabelCertificate, opmetrics.CertAnchor); err == nil {
		t.Error("the deleted installation's expiry series is still served")
	}
}
