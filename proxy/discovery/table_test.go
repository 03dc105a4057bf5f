package discovery

import (
	"net/netip"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestResolve(t *testing.T) {
	var s Store
	dst := netip.MustParseAddrPort
	ext := contract.DstExternal
	if got := s.Resolve(dst("198.19.0.5:80")); got != (Target{Addr: dst("198.19.0.5:80"), Namespace: ext, Service: ext}) {
		t.Fatalf("before any snapshot: %+v", got)
	}
	s.Set(contract.DiscoverySnapshot{
		Revision: 7,
		Pods: map[string]contract.MeshedPod{
			"198.18.10.4": {Identity: "spiffe://td/ns/a/sa/web", Namespace: "a", Name: "web-1"},
		},
		Services: map[string]contract.ServiceTarget{
			"198.19.0.5:80": {Namespace: "a", Name: "web", Endpoints: []contract.Endpoint{
				{IP: "198.18.10.4", Port: 8080, Identity: "spiffe://td/ns/a/sa/web"},
				{IP: "198.18.10.9", Port: 8080},
			}},
			"198.19.0.6:80": {Namespace: "a", Name: "bad", Endpoints: []contract.Endpoint{{IP: "not-an-ip", Port: 1}}},
			"198.19.0.7:80": {Namespace: "b", Name: "idle"},
		},
	})
	tests := []struct {
		name string
		dst  string
		want Target
	}{
		{"service, first endpoint", "198.19.0.5:80", Target{dst("198.18.10.4:8080"), "spiffe://td/ns/a/sa/web", "a", "web"}},
		{"service, second endpoint in turn", "198.19.0.5:80", Target{dst("198.18.10.9:8080"), "", "a", "web"}},
		{"service, wraps around", "198.19.0.5:80", Target{dst("198.18.10.4:8080"), "spiffe://td/ns/a/sa/web", "a", "web"}},
		{"service port not known", "198.19.0.5:81", Target{dst("198.19.0.5:81"), "", ext, ext}},
		{"service with only bad endpoints", "198.19.0.6:80", Target{dst("198.19.0.6:80"), "", "a", "bad"}},
		{"service without endpoints", "198.19.0.7:80", Target{dst("198.19.0.7:80"), "", "b", "idle"}},
		{"meshed pod on any port", "198.18.10.4:9000", Target{dst("198.18.10.4:9000"), "spiffe://td/ns/a/sa/web", "a", ""}},
		{"unknown pod", "198.18.10.9:9000", Target{dst("198.18.10.9:9000"), "", ext, ext}},
		{"v4-mapped address", "[::ffff:198.18.10.4]:9000", Target{dst("[::ffff:198.18.10.4]:9000"), "spiffe://td/ns/a/sa/web", "a", ""}},
	}
	for _, tt := range tests {
		if got := s.Resolve(dst(tt.dst)); got != tt.want {
			t.Errorf("%s: Resolve(%s) = %+v, want %+v", tt.name, tt.dst, got, tt.want)
		}
	}
	if s.Revision() != 7 || !s.Synced() {
		t.Fatal("revision not tracked")
	}
}
