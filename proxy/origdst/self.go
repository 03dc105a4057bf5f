package origdst

import (
	"net"
	"net/netip"
	"slices"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Self is what a proxy must never forward a connection to: its own
// listeners. Forwarding to one loops (every hop opens another connection to
// itself until the proxy runs out of memory), and forwarding inbound traffic
// addressed to another host would make the proxy an open relay running as
// the one user the pod's redirect rules exempt.
type Self struct {
	// Addrs are this pod's own addresses (pod IPs, interface addresses).
	Addrs []netip.Addr
	// Ports are the proxy's listening ports.
	Ports []uint16
}

// NewSelf collects the pod's addresses — podIP (may be empty) and those of
// its interfaces — and the proxy's ports: the contract's and those of the
// listeners actually bound.
func NewSelf(podIP string, listeners ...net.Addr) Self {
	var s Self
	if ip, err := netip.ParseAddr(podIP); err == nil {
		s.Addrs = append(s.Addrs, ip.Unmap())
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					s.Addrs = append(s.Addrs, ip.Unmap())
				}
			}
		}
	}
	s.Ports = contract.ProxyPorts()
	for _, l := range listeners {
		if ap, err := netip.ParseAddrPort(l.String()); err == nil && !slices.Contains(s.Ports, ap.Port()) {
			s.Ports = append(s.Ports, ap.Port())
		}
	}
	return s
}

// Inbound returns why a redirected inbound connection whose original
// destination is dst must be refused ("" if it may be forwarded). local is
// the address it arrived on: the redirect rule rewrites the destination to
// the receiving interface's address, so a packet addressed to this pod
// arrives on that same address.
func (s Self) Inbound(dst netip.AddrPort, local netip.Addr) string {
	if slices.Contains(s.Ports, dst.Port()) {
		return contract.RefusedProxyPort
	}
	if a := dst.Addr().Unmap(); a != local.Unmap() && !slices.Contains(s.Addrs, a) {
		return contract.RefusedForeignDestination
	}
	return ""
}

// Outbound returns why an application's connection whose original
// destination is dst must be refused: one addressed to a proxy port of this
// pod, or one that reached the outbound listener without being redirected.
func (s Self) Outbound(dst netip.AddrPort, local netip.Addr) string {
	if !slices.Contains(s.Ports, dst.Port()) {
		return ""
	}
	a := dst.Addr().Unmap()
	if a.IsLoopback() || a.IsUnspecified() || a == local.Unmap() || slices.Contains(s.Addrs, a) {
		return contract.RefusedProxyPort
	}
	return ""
}

// LocalAddr is the address a connection arrived on (the zero Addr if unknown).
func LocalAddr(c net.Conn) netip.Addr {
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}
