package identity

import "github.com/prometheus/client_golang/prometheus"

// metrics counts the identity service's decisions.
type metrics struct {
	issued  prometheus.Counter
	refused *prometheus.CounterVec
}

// Refusal reasons, the values of the "reason" label.
const (
	reasonBadRequest      = "bad_request"
	reasonUnauthenticated = "unauthenticated"
	reasonForbidden       = "forbidden"
	reasonReviewFailed    = "review_failed"
	reasonNoIssuer        = "no_issuer"
	reasonSignFailed      = "sign_failed"
	reasonRateLimited     = "rate_limited"
)

// issuerCollector reports the issuer in use at scrape time, so the operator
// (or a human) can see when a rotation reached the identity service.
type issuerCollector struct {
	source IssuerSource
	info   *prometheus.Desc
	expiry *prometheus.Desc
}

func newIssuerCollector(source IssuerSource) *issuerCollector {
	return &issuerCollector{
		source: source,
		info: prometheus.NewDesc("meshkeeper_identity_issuer_info",
			"Fixed at 1; the label is the SHA-256 fingerprint of the issuer signing certificates now.", []string{"fingerprint"}, nil),
		expiry: prometheus.NewDesc("meshkeeper_identity_issuer_expiry_timestamp_seconds",
			"NotAfter of the issuer signing certificates now, as a Unix time.", nil, nil),
	}
}

func (c *issuerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.expiry
}

func (c *issuerCollector) Collect(ch chan<- prometheus.Metric) {
	issuer := c.source.Current()
	if issuer == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, issuer.Fingerprint)
	ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(issuer.Cert.NotAfter.Unix()))
}

func newMetrics(reg prometheus.Registerer, source IssuerSource) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshkeeper_identity_certificates_issued_total",
			Help: "Workload certificates issued.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshkeeper_identity_certificates_refused_total",
			Help: "Certify requests refused, by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.issued, m.refused, newIssuerCollector(source)} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
