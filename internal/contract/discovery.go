package contract

// DiscoveryPath streams DiscoverySnapshots (HTTPS GET, newline-delimited JSON):
// one full snapshot when the stream opens and another on every change.
const DiscoveryPath = "/v1/watch"

// DiscoverySnapshot is the whole table of meshed destinations the proxy needs.
type DiscoverySnapshot struct {
	// Revision increases with every snapshot the server sends.
	Revision uint64 `json:"revision"`
	// Pods maps a pod IP to its mesh identity; only meshed, running pods appear.
	Pods map[string]MeshedPod `json:"pods"`
	// Services maps "clusterIP:port" to the endpoints serving it.
	Services map[string]ServiceTarget `json:"services"`
	// Issuer is the SHA-256 fingerprint of the issuer the identity service signs
	// with now. A proxy whose certificate came from another issuer renews at
	// once: this is how a trust rotation hastens certificate roll-over.
	Issuer string `json:"issuer,omitempty"`
}

// MeshedPod is a pod whose proxy accepts mesh mTLS. It carries only what a
// proxy needs to dial the pod and label its metrics: no pod name, labels or
// anything else a caller could use to map the cluster beyond the addresses
// it can already reach.
type MeshedPod struct {
	Identity  string `json:"identity"`
	Namespace string `json:"namespace"`
	MTLSMode  string `json:"mtlsMode"`
	// OpaquePorts is the pod's resolved opaque-ports list (PortRanges form),
	// for clients that reach the pod by its IP; nil when it is
	// DefaultOpaquePorts, which keeps snapshots small.
	OpaquePorts *string `json:"opaquePorts,omitempty"`
}

// ServiceTarget lists the ready endpoints behind one Service port.
type ServiceTarget struct {
	// Namespace and Name are the Service's, for the proxies' per-destination
	// metrics (dst_namespace, dst_service).
	Namespace string     `json:"namespace,omitempty"`
	Name      string     `json:"name,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
	// Opaque is true when this Service port carries an opaque protocol
	// (OpaquePortsAnnotation): clients' proxies skip protocol detection.
	Opaque bool `json:"opaque,omitempty"`
}

// Endpoint is one ready backend; Identity is empty when the backend is not meshed.
type Endpoint struct {
	IP       string `json:"ip"`
	Port     int32  `json:"port"`
	Identity string `json:"identity,omitempty"`
}

// PodOpaquePorts is a pod's opaque-ports list.
func PodOpaquePorts(p MeshedPod) PortRanges {
	if p.OpaquePorts == nil {
		return ResolveOpaquePorts()
	}
	r, _ := ParsePortRanges(*p.OpaquePorts)
	return r
}
