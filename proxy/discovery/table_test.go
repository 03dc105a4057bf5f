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
			"198.18.10.4": {Identity: "spiffe://td/ns/a/sa/web", Namespace: "a"},
			"198.18.10.5": {Identity: "spiffe://td/ns/b/sa/smtp", Namespace: "b", OpaquePorts: ptr("2525,9000-9001")},
		},
		Services: map[string]contract.ServiceTarget{
			"198.19.0.5:80": {Namespace: "a", Name: "web", Endpoints: []contract.Endpoint{
				{IP: "198.18.10.4", Port: 8080, Identity: "spiffe://td/ns/a/sa/web"},
				{IP: "198.18.10.9", Port: 8080},
			}},
			"198.19.0.6:80":   {Namespace: "a", Name: "bad", Endpoints: []contract.Endpoint{{IP: "not-an-ip", Port: 1}}},
			"198.19.0.7:80":   {Namespace: "b", Name: "idle"},
			"198.19.0.8:25":   {Namespace: "b", Name: "smtp", Opaque: true, Endpoints: []contract.Endpoint{{IP: "198.18.10.5", Port: 2525, Identity: "spiffe://td/ns/b/sa/smtp"}}},
			"198.19.0.9:5432": {Namespace: "b", Name: "pg-http"},
		},
	})
	tests := []struct {
		name string
		dst  string
		want Target
	}{
		{"service, first endpoint", "198.19.0.5:80", Target{dst("198.18.10.4:8080"), "spiffe://td/ns/a/sa/web", "a", "web", false}},
		{"service, second endpoint in turn", "198.19.0.5:80", Target{dst("198.18.10.9:8080"), "", "a", "web", false}},
		{"service, wraps around", "198.19.0.5:80", Target{dst("198.18.10.4:8080"), "spiffe://td/ns/a/sa/web", "a", "web", false}},
		{"service port not known", "198.19.0.5:81", Target{dst("198.19.0.5:81"), "", ext, ext, false}},
		{"service with only bad endpoints", "198.19.0.6:80", Target{dst("198.19.0.6:80"), "", "a", "bad", false}},
		{"service without endpoints", "198.19.0.7:80", Target{dst("198.19.0.7:80"), "", "b", "idle", false}},
		{"meshed pod on any port", "198.18.10.4:9000", Target{dst("198.18.10.4:9000"), "spiffe://td/ns/a/sa/web", "a", "", false}},
		{"unknown pod", "198.18.10.9:9000", Target{dst("198.18.10.9:9000"), "", ext, ext, false}},
		{"v4-mapped address", "[::ffff:198.18.10.4]:9000", Target{dst("[::ffff:198.18.10.4]:9000"), "spiffe://td/ns/a/sa/web", "a", "", false}},
		{"opaque Service", "198.19.0.8:25", Target{dst("198.18.10.5:2525"), "spiffe://td/ns/b/sa/smtp", "b", "smtp", true}},
		{"Service not opaque on a default port", "198.19.0.9:5432", Target{dst("198.19.0.9:5432"), "", "b", "pg-http", false}},
		{"pod's own list", "198.18.10.5:9001", Target{dst("198.18.10.5:9001"), "spiffe://td/ns/b/sa/smtp", "b", "", true}},
		{"pod's own list replaces the default", "198.18.10.5:3306", Target{dst("198.18.10.5:3306"), "spiffe://td/ns/b/sa/smtp", "b", "", false}},
		{"pod without a list: the default", "198.18.10.4:6379", Target{dst("198.18.10.4:6379"), "spiffe://td/ns/a/sa/web", "a", "", true}},
		{"unknown destination: the default", "203.0.113.7:5432", Target{dst("203.0.113.7:5432"), "", ext, ext, true}},
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

func ptr(s string) *string { return &s }
