package upgrade

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	c "github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// WindowSource measures the golden metrics of some namespaces over a window
// ending at a time. PrometheusSource is the one the operator ships; tests and
// other sources can stand in.
type WindowSource interface {
	Measure(ctx context.Context, namespaces []string, window time.Duration, at time.Time) (Measurement, error)
}

// Querier is the part of the Prometheus HTTP API a PrometheusSource uses;
// promv1.API satisfies it.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error)
}

// DefaultNamespaceLabel is the label standard kubernetes_sd relabelling gives
// scraped pod series for their namespace.
const DefaultNamespaceLabel = "namespace"

// PrometheusSource reads gate metrics from a Prometheus HTTP API: the inbound
// request and failure counts and the p99 latency of the proxies in the given
// namespaces, plus the custom PromQL checks.
type PrometheusSource struct {
	API    Querier
	Checks []meshv1.PromQLCheck
	// NamespaceLabel is the series label holding the pod's namespace.
	NamespaceLabel string
	// QueryTimeout bounds each query, answer included (0: only ctx bounds it).
	QueryTimeout time.Duration
}

// DefaultQueryTimeout bounds one Prometheus query of NewPrometheusSource; its
// answers are also capped at proxymetrics.MaxBodyBytes, so a wrong URL or a
// hostile endpoint cannot hold a reconcile or fill the operator's memory.
const DefaultQueryTimeout = 10 * time.Second

// NewPrometheusSource builds a source for a PrometheusGate; rt may be nil for
// the default transport.
func NewPrometheusSource(g *meshv1.PrometheusGate, rt http.RoundTripper) (*PrometheusSource, error) {
	if g == nil || g.URL == "" {
		return nil, errors.New("gate.prometheus.url is required for the Prometheus source")
	}
	client, err := promapi.NewClient(promapi.Config{Address: g.URL, RoundTripper: proxymetrics.LimitedTransport{Base: rt}})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", g.URL, err)
	}
	return &PrometheusSource{API: promv1.NewAPI(client), Checks: g.Checks, NamespaceLabel: DefaultNamespaceLabel,
		QueryTimeout: DefaultQueryTimeout}, nil
}

// GoldenQueries returns the PromQL for requests, failures and p99 latency of
// the inbound traffic of namespaces over window. Failures are the proxies'
// own verdict (the classification label), never status codes: a gRPC call
// failing with UNAVAILABLE is answered with HTTP 200, a websocket with 101.
func GoldenQueries(namespaceLabel string, namespaces []string, window time.Duration) (requests, failures, p99 string) {
	if namespaceLabel == "" {
		namespaceLabel = DefaultNamespaceLabel
	}
	sel := fmt.Sprintf(`%s=%q,%s=~%q`, c.LabelDirection, c.DirectionInbound, namespaceLabel, NamespaceRegex(namespaces))
	w := PromDuration(window)
	requests = fmt.Sprintf(`sum(increase(%s{%s}[%s]))`, c.MetricRequestsTotal, sel, w)
	failures = fmt.Sprintf(`sum(increase(%s{%s,%s=%q}[%s]))`, c.MetricRequestsTotal, sel, c.LabelClassification, c.ClassFailure, w)
	p99 = fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (increase(%s_bucket{%s}[%s])))`, c.MetricRequestDuration, sel, w)
	return requests, failures, p99
}

// Measure runs the golden queries and the custom checks at time at. A source
// that cannot answer returns an error (the caller waits and retries); a check
// whose query Prometheus rejects, or whose answer is not one value, fails.
func (p *PrometheusSource) Measure(ctx context.Context, namespaces []string, window time.Duration, at time.Time) (Measurement, error) {
	var m Measurement
	if len(namespaces) == 0 {
		return Measurement{SuccessRate: 1}, nil
	}
	qReq, qFail, qP99 := GoldenQueries(p.NamespaceLabel, namespaces, window)
	requests, _, err := p.scalar(ctx, qReq, at)
	if err != nil {
		return m, err
	}
	failures, _, err := p.scalar(ctx, qFail, at)
	if err != nil {
		return m, err
	}
	p99, haveP99, err := p.scalar(ctx, qP99, at)
	if err != nil {
		return m, err
	}
	m.Requests = int64(math.Round(requests))
	m.SuccessRate = 1
	if requests > 0 {
		m.SuccessRate = math.Max(0, (requests-failures)/requests)
	}
	if haveP99 && !math.IsNaN(p99) && !math.IsInf(p99, 0) {
		m.P99, m.HasLatency = seconds(p99), true
	}
	for _, check := range p.Checks {
		r, err := p.check(ctx, check, namespaces, window, at)
		if err != nil {
			return m, err
		}
		m.Checks = append(m.Checks, r)
	}
	return m, nil
}

func (p *PrometheusSource) check(ctx context.Context, check meshv1.PromQLCheck, namespaces []string, window time.Duration, at time.Time) (CheckResult, error) {
	r := CheckResult{Name: check.Name}
	q := strings.NewReplacer("$namespaces", NamespaceRegex(namespaces), "$window", PromDuration(window)).Replace(check.Query)
	val, err := p.query(ctx, q, at)
	var apiErr *promv1.Error
	if errors.As(err, &apiErr) && apiErr.Type == promv1.ErrBadData {
		r.Message = fmt.Sprintf("query rejected: %v", apiErr)
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("prometheus check %s: %w", check.Name, err)
	}
	v, n := single(val)
	if n != 1 {
		r.Message = fmt.Sprintf("query returned %d values, want exactly 1", n)
		return r, nil
	}
	r.Value = v
	bounds, ok := "", !math.IsNaN(v)
	if check.Min != "" {
		lo, err := strconv.ParseFloat(check.Min, 64)
		if err != nil {
			r.Message = fmt.Sprintf("min %q is not a number", check.Min)
			return r, nil
		}
		ok = ok && v >= lo
		bounds += " >= " + check.Min
	}
	if check.Max != "" {
		hi, err := strconv.ParseFloat(check.Max, 64)
		if err != nil {
			r.Message = fmt.Sprintf("max %q is not a number", check.Max)
			return r, nil
		}
		ok = ok && v <= hi
		if bounds != "" {
			bounds += " and"
		}
		bounds += " <= " + check.Max
	}
	r.Passed = ok
	if bounds == "" {
		bounds = " any number"
	}
	verb := "within"
	if !ok {
		verb = "outside"
	}
	r.Message = fmt.Sprintf("value %s %s bounds%s", rate(v), verb, bounds)
	return r, nil
}

// query runs one query within QueryTimeout.
func (p *PrometheusSource) query(ctx context.Context, q string, at time.Time) (model.Value, error) {
	if p.QueryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.QueryTimeout)
		defer cancel()
	}
	val, _, _, err := p.API.Query(ctx, q, at)
	return val, err
}

// scalar runs a query expected to give at most one value; no value is (0, false).
func (p *PrometheusSource) scalar(ctx context.Context, q string, at time.Time) (float64, bool, error) {
	val, err := p.query(ctx, q, at)
	if err != nil {
		return 0, false, fmt.Errorf("prometheus query %s: %w", q, err)
	}
	v, n := single(val)
	if n > 1 {
		return 0, false, fmt.Errorf("prometheus query %s returned %d series, want 1", q, n)
	}
	return v, n == 1, nil
}

// single extracts the value of a scalar or a one-sample vector and counts the values.
func single(val model.Value) (float64, int) {
	switch v := val.(type) {
	case *model.Scalar:
		return float64(v.Value), 1
	case model.Vector:
		if len(v) == 1 {
			return float64(v[0].Value), 1
		}
		return 0, len(v)
	}
	return 0, 0
}

// NamespaceRegex is a PromQL regex matching exactly the given namespaces.
func NamespaceRegex(namespaces []string) string {
	quoted := make([]string, len(namespaces))
	for i, ns := range namespaces {
		quoted[i] = regexp.QuoteMeta(ns)
	}
	return strings.Join(quoted, "|")
}

// PromDuration formats a window as a PromQL duration in whole seconds (at least 1s).
func PromDuration(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10) + "s"
}
