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
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	for _, c := range []prometheus.Collector{m.issued, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
