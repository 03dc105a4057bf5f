// Package discovery keeps the proxy's view of the mesh: a snapshot streamed
// from the discovery service, and the rule that turns an original destination
// into the endpoint to dial and the identity it must prove.
package discovery

import (
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Target is where a connection or request goes. Identity is empty when the
// destination is not meshed: then it is reached in plain TCP, untouched.
type Target struct {
	Addr     netip.AddrPort
	Identity string
	// Namespace and Service name the destination for metrics (outbound
	// only): see contract.LabelDstNamespace.
	Namespace, Service string
	// Opaque is true when the destination's protocol must not be detected
	// (contract.OpaquePortsAnnotation): it is relayed as bytes.
	Opaque bool
}

// defaultOpaque applies to destinations discovery does not know.
var defaultOpaque = contract.ResolveOpaquePorts()

// Meshed reports whether the target must be reached over mesh mTLS.
func (t Target) Meshed() bool { return t.Identity != "" }

// table is one immutable snapshot plus its round-robin cursors.
type table struct {
	snap    contract.DiscoverySnapshot
	cursors map[string]*atomic.Uint64
	// opaque are the parsed opaque ports of pods that do not use the default.
	opaque map[string]contract.PortRanges
}

func newTable(snap contract.DiscoverySnapshot) *table {
	t := &table{snap: snap, cursors: make(map[string]*atomic.Uint64, len(snap.Services)), opaque: map[string]contract.PortRanges{}}
	for key := range snap.Services {
		t.cursors[key] = new(atomic.Uint64)
	}
	for ip, pod := range snap.Pods {
		if pod.OpaquePorts != nil {
			t.opaque[ip] = contract.PodOpaquePorts(pod)
		}
	}
	return t
}

// Store holds the latest snapshot; it is safe for concurrent use and keeps the
// last snapshot when the stream breaks.
type Store struct {
	cur      atomic.Pointer[table]
	onIssuer atomic.Pointer[func(string)]
}

// Set installs a snapshot and passes its Issuer to the OnIssuer hook.
func (s *Store) Set(snap contract.DiscoverySnapshot) {
	s.cur.Store(newTable(snap))
	if f := s.onIssuer.Load(); f != nil {
		(*f)(snap.Issuer)
	}
}

// OnIssuer makes every later Set call f with the snapshot's advertised issuer
// fingerprint ("" when the control plane does not advertise one).
func (s *Store) OnIssuer(f func(fingerprint string)) { s.onIssuer.Store(&f) }

// Synced reports whether any snapshot has arrived.
func (s *Store) Synced() bool { return s.cur.Load() != nil }

// Revision is the revision of the snapshot in force, 0 before the first.
func (s *Store) Revision() uint64 {
	if t := s.cur.Load(); t != nil {
		return t.snap.Revision
	}
	return 0
}

// Resolve maps an original destination to a target:
//   - a Service "clusterIP:port" → one of its endpoints, in turn, named
//     after the Service;
//   - a meshed pod IP → that pod, with its identity, named after its namespace;
//   - anything else (or no snapshot yet) → the destination itself, not
//     meshed, named contract.DstExternal.
//
// Opaque comes from the Service, the pod's list, or (unknown destinations
// and pods without a list of their own) contract.DefaultOpaquePorts.
func (s *Store) Resolve(dst netip.AddrPort) Target {
	out := Target{Addr: dst, Namespace: contract.DstExternal, Service: contract.DstExternal, Opaque: defaultOpaque.Contains(dst.Port())}
	t := s.cur.Load()
	if t == nil {
		return out
	}
	key := dst.Addr().Unmap().String() + ":" + strconv.Itoa(int(dst.Port()))
	if svc, ok := t.snap.Services[key]; ok {
		out.Namespace, out.Service, out.Opaque = svc.Namespace, svc.Name, svc.Opaque
		if ep, ok := pick(svc.Endpoints, t.cursors[key]); ok {
			out.Addr, out.Identity = ep.Addr, ep.Identity
		}
		return out
	}
	ip := dst.Addr().Unmap().String()
	if pod, ok := t.snap.Pods[ip]; ok {
		out.Identity, out.Namespace, out.Service = pod.Identity, pod.Namespace, ""
		if r, ok := t.opaque[ip]; ok {
			out.Opaque = r.Contains(dst.Port())
		}
	}
	return out
}

// pick returns the next endpoint with a parseable address in round-robin order.
func pick(eps []contract.Endpoint, cursor *atomic.Uint64) (Target, bool) {
	n := uint64(len(eps))
	for range eps {
		ep := eps[(cursor.Add(1)-1)%n]
		ip, err := netip.ParseAddr(ep.IP)
		if err != nil || ep.Port <= 0 || ep.Port > 65535 {
			continue
		}
		return Target{Addr: netip.AddrPortFrom(ip, uint16(ep.Port)), Identity: ep.Identity}, true
	}
	return Target{}, false
}
