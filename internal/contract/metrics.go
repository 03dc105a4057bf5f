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
	// MetricTCPConnectionDuration is a histogram of how long connections
	// stayed open, in seconds, observed when they close (an upgraded
	// websocket session included).
	MetricTCPConnectionDuration = "meshkeeper_proxy_tcp_connection_duration_seconds"

	// MetricRefusedConnectionsTotal counts connections closed at once because
	// forwarding them would loop or relay (LabelReason: RefusedProxyPort,
	// RefusedForeignDestination).
	MetricRefusedConnectionsTotal = "meshkeeper_proxy_refused_connections_total"
	// MetricRetriesTotal counts requests the outbound proxy wanted to send
	// again (LabelResult: RetrySent, or RetryNoBudget when the retry budget
	// was spent).
	MetricRetriesTotal = "meshkeeper_proxy_retries_total"

	LabelVersion        = "version"
	LabelTrustAnchors   = "trust_anchors" // comma-separated, sorted SHA-256 hex fingerprints
	LabelIssuer         = "issuer"        // SHA-256 hex fingerprint of the current cert's issuer
	LabelDirection      = "direction"     // DirectionInbound or DirectionOutbound
	LabelStatusCode     = "status_code"
	LabelClassification = "classification" // ClassSuccess or ClassFailure
	LabelPeerIdentity   = "peer_identity"  // SPIFFE ID, or "" when the peer is not meshed
	LabelTLS            = "tls"            // "true" when the hop used mesh mTLS
	LabelFlow           = "flow"           // "read" or "write" for bytes
	// LabelGRPCStatus is the numeric gRPC status ("0".."16") of a gRPC call,
	// from its trailers or a trailers-only response; "" for other requests
	// and for gRPC calls that ended without a valid status.
	LabelGRPCStatus = "grpc_status"
	// LabelDstNamespace and LabelDstService name the destination of outbound
	// traffic as discovery knows it: the Service reached through its cluster
	// IP, or the namespace (and an empty service) of a meshed pod addressed
	// directly; DstExternal for both when discovery does not know the
	// address. Empty on inbound series, which carry LabelPeerIdentity.
	LabelDstNamespace = "dst_namespace"
	LabelDstService   = "dst_service"
	// LabelError says why a request got no regular answer: one of the Error*
	// values, "" when it got one.
	LabelError  = "error"
	LabelReason = "reason"
	LabelResult = "result"

	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	ClassSuccess      = "success"
	ClassFailure      = "failure"
	// DstExternal is the one destination value of everything discovery does
	// not know (outside the cluster, unmeshed pods), so cardinality stays bounded.
	DstExternal = "external"

	// ErrorConnect: the proxy could not connect to (or handshake with) the upstream.
	ErrorConnect = "connect"
	// ErrorTimeout: the upstream did not answer in time.
	ErrorTimeout = "timeout"
	// ErrorUpstreamReset: the upstream reset or closed the stream or its
	// connection, before or after response headers.
	ErrorUpstreamReset = "upstream_reset"
	// ErrorUpstream: any other failure talking to the upstream (malformed answer).
	ErrorUpstream = "upstream_error"
	// ErrorClientCancel: the client went away (reset the stream, closed the
	// connection) before the response ended.
	ErrorClientCancel = "client_cancel"
	// ErrorGRPCStatusMissing: a gRPC call ended without a grpc-status.
	ErrorGRPCStatusMissing = "grpc_status_missing"
	// ErrorGRPCStatusInvalid: a gRPC call ended with a grpc-status that is not 0..16.
	ErrorGRPCStatusInvalid = "grpc_status_invalid"
	// ErrorFaultInjected: the proxy's test-only fault injection answered.
	ErrorFaultInjected = "fault_injected"

	RefusedProxyPort          = "proxy-port"          // the original destination is a proxy listener
	RefusedForeignDestination = "foreign-destination" // inbound, addressed to another host
	RetrySent                 = "sent"
	RetryNoBudget             = "no-budget"
)
