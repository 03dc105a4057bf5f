package contract

// Metric names and labels a proxy serves on ProxyAdminPort at MetricsPath and
// the operator reads for upgrade gates and trust convergence.
const (
	MetricsPath = "/metrics"
	ReadyPath   = "/ready"
	LivePath    = "/live"

	// MetricBuildInfo is a gauge fixed at 1 whose labels carry the proxy version,
	// the trust anchors it currently trusts and the issuer of its certificate.
	MetricBuildInfo = "meshkeeper_proxy_build_info"
	// MetricRequestsTotal counts HTTP requests (both HTTP/1 and HTTP/2).
	MetricRequestsTotal = "meshkeeper_proxy_requests_total"
	// MetricRequestDuration is a histogram of request latency in seconds.
	MetricRequestDuration = "meshkeeper_proxy_request_duration_seconds"
	// MetricTCPConnectionsTotal counts accepted/opened TCP connections.
	MetricTCPConnectionsTotal = "meshkeeper_proxy_tcp_connections_total"
	// MetricTCPOpenConnections is a gauge of connections open now.
	MetricTCPOpenConnections = "meshkeeper_proxy_tcp_open_connections"
	// MetricTCPBytesTotal counts bytes relayed.
	MetricTCPBytesTotal = "meshkeeper_proxy_tcp_bytes_total"

	LabelVersion        = "version"
	LabelTrustAnchors   = "trust_anchors" // comma-separated, sorted SHA-256 hex fingerprints
	LabelIssuer         = "issuer"        // SHA-256 hex fingerprint of the current cert's issuer
	LabelDirection      = "direction"     // DirectionInbound or DirectionOutbound
	LabelStatusCode     = "status_code"
	LabelClassification = "classification" // ClassSuccess or ClassFailure
	LabelPeerIdentity   = "peer_identity"  // SPIFFE ID, or "" when the peer is not meshed
	LabelTLS            = "tls"            // "true" when the hop used mesh mTLS
	LabelFlow           = "flow"           // "read" or "write" for bytes

	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	ClassSuccess      = "success"
	ClassFailure      = "failure"
)
