package origdst

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestSelf(t *testing.T) {
	self := Self{Addrs: []netip.Addr{netip.MustParseAddr("10.244.0.7"), netip.MustParseAddr("fd00::7")},
		Ports: append(contract.ProxyPorts(), 39001)}
	pod := netip.MustParseAddr("10.244.0.7")
	loop := netip.MustParseAddr("127.0.0.1")
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name    string
		dst     string
		local   netip.Addr
		in, out string
	}{
		{"app port of this pod", "10.244.0.7:8080", pod, "", ""},
		{"IPv4-mapped pod address", "[::ffff:10.244.0.7]:8080", pod, "", ""},
		{"second pod IP", "[fd00::7]:8080", pod, "", ""},
		{"inbound port itself", "10.244.0.7:4143", pod, contract.RefusedProxyPort, contract.RefusedProxyPort},
		{"outbound port via the pod IP", "10.244.0.7:4140", pod, contract.RefusedProxyPort, contract.RefusedProxyPort},
		{"admin port", "10.244.0.7:4191", pod, contract.RefusedProxyPort, contract.RefusedProxyPort},
		{"a bound test port", "10.244.0.7:39001", pod, contract.RefusedProxyPort, contract.RefusedProxyPort},
		{"outbound listener reached directly", "127.0.0.1:4140", loop, contract.RefusedProxyPort, contract.RefusedProxyPort},
		{"another loopback address", "127.0.0.2:4143", loop, contract.RefusedProxyPort, contract.RefusedProxyPort},
		{"another host: relay", "10.96.0.1:443", pod, contract.RefusedForeignDestination, ""},
		{"another pod's admin port", "10.244.0.9:4191", pod, contract.RefusedProxyPort, ""},
		{"arrived on the address it was sent to", "10.244.0.8:80", netip.MustParseAddr("10.244.0.8"), "", ""},
	} {
		if got := self.Inbound(ap(tc.dst), tc.local); got != tc.in {
			t.Errorf("%s: Inbound(%s) = %q, want %q", tc.name, tc.dst, got, tc.in)
		}
		if got := self.Outbound(ap(tc.dst), loop); got != tc.out {
			t.Errorf("%s: Outbound(%s) = %q, want %q", tc.name, tc.dst, got, tc.out)
		}
	}
}

func TestNewSelfCollectsAddressesAndPorts(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 39002}
	s := NewSelf("10.244.0.7", bound, &net.TCPAddr{IP: net.IPv4zero, Port: contract.ProxyInboundPort})
	if !slices.Contains(s.Addrs, netip.MustParseAddr("10.244.0.7")) || !slices.Contains(s.Addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Fatalf("addresses %v: want the pod IP and the interfaces' (loopback at least)", s.Addrs)
	}
	if want := append(contract.ProxyPorts(), 39002); !slices.Equal(s.Ports, want) {
		t.Fatalf("ports %v, want %v", s.Ports, want)
	}
	if s := NewSelf("not-an-ip"); slices.Contains(s.Addrs, netip.Addr{}) {
		t.Fatalf("an invalid pod IP became an address: %v", s.Addrs)
	}
}
