// Package metrics holds the proxy's golden metrics on a registry of its own.
// Names and labels come from internal/contract because the operator reads
// them for upgrade gates and trust convergence.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// LatencyBuckets reach from 100µs (a loopback hop) to 10s.
var LatencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// ConnDurationBuckets reach from a refused connection to an hour-long
// stream (websocket sessions, database pools).
var ConnDurationBuckets = []float64{0.001, 0.01, 0.1, 1, 10, 60, 300, 900, 3600}

// Info reports the values of the build-info labels that change at run time.
type Info interface {
	AnchorsLabel() string
	IssuerLabel() string
}

// Metrics records requests and connections for both directions.
type Metrics struct {
	Registry *prometheus.Registry
	// Now is the clock for connection durations; New sets time.Now.
	Now func() time.Time

	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	connsTotal *prometheus.CounterVec
	connsOpen  *prometheus.GaugeVec
	bytes      *prometheus.CounterVec
	connTime   *prometheus.HistogramVec
	refused    *prometheus.CounterVec
	retries    *prometheus.CounterVec

	// series caches each label set's request counter and latency
	// histogram (seriesKey to requestSeries). Looking a series up in a
	// metric vector validates and hashes every label value under a lock,
	// twice per request: about 1.5% of the proxies' CPU in a burst (perf,
	// proxy/bench BenchmarkBurstDrain). No series is ever deleted, so a
	// cached one is always the registered one.
	series sync.Map
}

// seriesKey is a request's labels before formatting.
type seriesKey struct {
	direction, namespace, service, grpcStatus, err, class, peer string
	status                                                      int
	tls                                                         bool
}

type requestSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New builds the metrics; info is read at every scrape so the build-info
// series always shows the anchors and issuer in force, with no stale series.
func New(version string, info Info) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Now:      time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: c.MetricRequestsTotal, Help: "HTTP requests proxied, by outcome.",
		}, []string{c.LabelDirection, c.LabelDstNamespace, c.LabelDstService, c.LabelStatusCode, c.LabelGRPCStatus, c.LabelError, c.LabelClassification, c.LabelPeerIdentity, c.LabelTLS}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: c.MetricRequestDuration, Help: "Time from request received to response headers sent, seconds.",
			Buckets: LatencyBuckets,
		}, []string{c.LabelDirection, c.LabelDstNamespace, c.LabelDstService, c.LabelClassification, c.LabelPeerIdentity, c.LabelTLS}),
		connsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: c.MetricTCPConnectionsTotal, Help: "TCP connections accepted.",
		}, []string{c.LabelDirection, c.LabelDstNamespace, c.LabelDstService, c.LabelTLS}),
		connsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: c.MetricTCPOpenConnections, Help: "TCP connections open now.",
		}, []string{c.LabelDirection, c.LabelDstNamespace, c.LabelDstService, c.LabelTLS}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: c.MetricTCPBytesTotal, Help: "Bytes relayed on the mesh side of accepted connections.",
		}, []string{c.LabelDirection, c.LabelDstNamespace, c.LabelDstService, c.LabelTLS, c.LabelFlow}),
		connTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: c.MetricTCPConnectionDuration, Help: "How long accepted connections stayed open, seconds, observed at close.",
			Buckets: ConnDurationBuckets,
		}, []string{c.LabelDirection, c.LabelDstNamespace, c.LabelDstService, c.LabelTLS}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: c.MetricRefusedConnectionsTotal, Help: "Connections closed at once: forwarding them would loop or relay.",
		}, []string{c.LabelDirection, c.LabelReason}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: c.MetricRetriesTotal, Help: "Requests the outbound proxy sent again, or would have without the retry budget.",
		}, []string{c.LabelResult}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.connsTotal, m.connsOpen, m.bytes, m.connTime, m.refused, m.retries,
		&buildInfo{version: version, info: info, desc: prometheus.NewDesc(c.MetricBuildInfo,
			"Proxy version, trusted anchors and current issuer (SHA-256 fingerprints).", []string{c.LabelVersion, c.LabelTrustAnchors, c.LabelIssuer}, nil)},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Dst is an outbound destination's labels (contract.LabelDstNamespace);
// the zero value on inbound.
type Dst struct {
	Namespace, Service string
}

// Request is one completed HTTP request.
type Request struct {
	Direction string
	Dst       Dst
	Outcome
	PeerIdentity string
	TLS          bool
	// Latency is until response headers were sent (until the proxy gave up
	// when none were).
	Latency time.Duration
}

// ObserveRequest counts a request and its latency.
func (m *Metrics) ObserveRequest(r Request) {
	v := Classify(r.Outcome)
	k := seriesKey{r.Direction, r.Dst.Namespace, r.Dst.Service, v.GRPCStatus, v.Error, v.Class, r.PeerIdentity, r.Status, r.TLS}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, m.newRequestSeries(k))
	}
	rs := s.(requestSeries)
	rs.requests.Inc()
	rs.latency.Observe(r.Latency.Seconds())
}

func (m *Metrics) newRequestSeries(k seriesKey) requestSeries {
	tls := strconv.FormatBool(k.tls)
	status := ""
	if k.status > 0 {
		status = strconv.Itoa(k.status)
	}
	return requestSeries{
		requests: m.requests.WithLabelValues(k.direction, k.namespace, k.service, status, k.grpcStatus, k.err, k.class, k.peer, tls),
		latency:  m.latency.WithLabelValues(k.direction, k.namespace, k.service, k.class, k.peer, tls),
	}
}

// Refused counts a connection closed at once, and why (contract.Refused*).
func (m *Metrics) Refused(direction, reason string) {
	m.refused.WithLabelValues(direction, reason).Inc()
}

// Retry counts a retry sent, or refused for want of budget (contract.Retry*).
func (m *Metrics) Retry(result string) { m.retries.WithLabelValues(result).Inc() }

// Conn tracks one accepted connection; Read and Wrote count relayed bytes.
type Conn struct {
	open     prometheus.Gauge
	read     prometheus.Counter
	wrote    prometheus.Counter
	duration prometheus.Observer
	start    time.Time
	now      func() time.Time
}

// ConnOpened counts a new connection until Closed is called.
func (m *Metrics) ConnOpened(direction string, tls bool, dst Dst) *Conn {
	t := strconv.FormatBool(tls)
	m.connsTotal.WithLabelValues(direction, dst.Namespace, dst.Service, t).Inc()
	open := m.connsOpen.WithLabelValues(direction, dst.Namespace, dst.Service, t)
	open.Inc()
	return &Conn{
		open:     open,
		read:     m.bytes.WithLabelValues(direction, dst.Namespace, dst.Service, t, "read"),
		wrote:    m.bytes.WithLabelValues(direction, dst.Namespace, dst.Service, t, "write"),
		duration: m.connTime.WithLabelValues(direction, dst.Namespace, dst.Service, t),
		start:    m.Now(),
		now:      m.Now,
	}
}

func (c *Conn) Read(n int)  { c.read.Add(float64(n)) }
func (c *Conn) Wrote(n int) { c.wrote.Add(float64(n)) }

// Closed drops the open gauge and records how long the connection lived;
// call it once.
func (c *Conn) Closed() {
	c.open.Dec()
	c.duration.Observe(c.now().Sub(c.start).Seconds())
}

type buildInfo struct {
	version string
	info    Info
	desc    *prometheus.Desc
}

func (b *buildInfo) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *buildInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, 1, b.version, b.info.AnchorsLabel(), b.info.IssuerLabel())
}
