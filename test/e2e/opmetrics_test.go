//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/opmetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// metricsReaderRole is config/rbac/metrics_reader_role.yaml as make deploy
// names it: the role README tells users to bind their Prometheus to.
const metricsReaderRole = "meshkeeper-metrics-reader"

// operatorMetricsURL is the manager's metrics endpoint on its pod address,
// the target a ServiceMonitor's endpoints give Prometheus.
func operatorMetricsURL(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(operatorNamespace).List(ctxFor(t, 10*time.Second), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=operator"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return "https://" + net.JoinHostPort(p.Status.PodIP, "8443") + "/metrics"
		}
	}
	t.Fatalf("no running operator pod in %s", operatorNamespace)
	return ""
}

// scrape GETs url with token ("" for none): the status and, on 200, the families.
func scrape(ctx context.Context, url, token string) (int, map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The manager's certificate is self-signed, as config/prometheus/monitor.yaml says.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	return resp.StatusCode, fams, err
}

// serviceAccountToken creates a ServiceAccount in ns and returns a token of it.
func serviceAccountToken(t testing.TB, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctxFor(t, 10*time.Second), name, metav1.GetOptions{}); isNotFound(err) {
		createServiceAccount(t, cs, ns, name)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctxFor(t, 10*time.Second), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}

// bindMetricsReader binds the shipped metrics-reader ClusterRole to a
// ServiceAccount, as README tells users to do for their Prometheus.
func bindMetricsReader(t testing.TB, cs kubernetes.Interface, ns, sa string) {
	t.Helper()
	name := "e2e-" + ns + "-" + sa + "-metrics"
	_, err := cs.RbacV1().ClusterRoleBindings().Create(ctxFor(t, 10*time.Second), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// secretCertificate reads the first certificate of a Secret's tls.crt.
func secretCertificate(ctx context.Context, cs kubernetes.Interface, ns, name string) (notAfter time.Time, fingerprint string, err error) {
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return time.Time{}, "", err
	}
	certs, err := pki.ParseCertificates(s.Data[corev1.TLSCertKey])
	if err != nil {
		return time.Time{}, "", fmt.Errorf("secret %s/%s: %w", ns, name, err)
	}
	return certs[0].NotAfter, pki.Fingerprint(certs[0]), nil
}

// certExpiry is the operator's expiry gauge for one certificate, or an error.
func certExpiry(fams map[string]*dto.MetricFamily, installation, cert string) (float64, error) {
	for _, m := range fams[opmetrics.CertificateExpiry].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels[opmetrics.LabelInstallation] == installation && labels[opmetrics.LabelCertificate] == cert {
			return m.GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("no %s{%s=%q,%s=%q}", opmetrics.CertificateExpiry, opmetrics.LabelInstallation, installation, opmetrics.LabelCertificate, cert)
}

// requireExpiryMetrics scrapes the manager's :8443 endpoint from the pod
// network as Prometheus does: refused without a token (401) and with the
// token of a ServiceAccount not bound to metrics-reader (403); with a bound
// one it answers, and its anchor and issuer expiry gauges equal notAfter of
// the certificates in their Secrets (the anchor being wantAnchor). The
// issuer renews every minute in this suite, so the comparison is retried
// until one scrape and one read agree.
func requireExpiryMetrics(t testing.TB, cs kubernetes.Interface, installation, wantAnchor string) {
	t.Helper()
	url := operatorMetricsURL(t, cs)
	const ns = "e2e-mesh"
	if code, _, err := scrape(ctxFor(t, 10*time.Second), url, ""); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("scrape of %s without a token: status %d, %v; want 401", url, code, err)
	}
	if code, _, err := scrape(ctxFor(t, 10*time.Second), url, serviceAccountToken(t, cs, ns, "loadgen")); err != nil || code != http.StatusForbidden {
		t.Fatalf("scrape of %s with an unbound ServiceAccount's token: status %d, %v; want 403", url, code, err)
	}
	bindMetricsReader(t, cs, ns, "metrics-scraper")
	token := serviceAccountToken(t, cs, ns, "metrics-scraper")
	var got string
	eventually(t, ctxFor(t, time.Minute), "operator expiry metrics match the anchor and issuer Secrets", func(ctx context.Context) error {
		code, fams, err := scrape(ctx, url, token)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("scrape with a metrics-reader token: status %d, %v", code, err)
		}
		got = ""
		for _, c := range []struct{ cert, secret, fingerprint string }{
			{opmetrics.CertAnchor, trust.AnchorSecret, wantAnchor},
			{opmetrics.CertIssuer, contract.IssuerSecret, ""},
		} {
			notAfter, fp, err := secretCertificate(ctx, cs, operatorNamespace, c.secret)
			if err != nil {
				return err
			}
			if c.fingerprint != "" && fp != c.fingerprint {
				return fmt.Errorf("secret %s holds %s, want the new anchor %s", c.secret, pki.ShortFingerprint(fp), pki.ShortFingerprint(c.fingerprint))
			}
			v, err := certExpiry(fams, installation, c.cert)
			if err != nil {
				return err
			}
			if v != float64(notAfter.Unix()) {
				return fmt.Errorf("%s expiry metric %s, secret %s notAfter %d (%s)", c.cert, strconv.FormatFloat(v, 'f', -1, 64), c.secret, notAfter.Unix(), notAfter.UTC().Format(time.RFC3339))
			}
			got += fmt.Sprintf(" %s=%d (%s)", c.cert, notAfter.Unix(), notAfter.UTC().Format(time.RFC3339))
		}
		return nil
	})
	t.Logf("FIGURE operator metrics: no token 401, unbound token 403, %s token 200; expiry metrics = Secrets' notAfter:%s", metricsReaderRole, got)
}
