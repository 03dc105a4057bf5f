package hostfx

import (
	"net"
	"testing"
)

func TestCIDRMask(t *testing.T) {
	for _, tc := range []struct{ cidr, ip, mask string }{
		{"198.18.0.0/15", "198.18.0.0", "255.254.0.0"},
		{"198.19.0.0/24", "198.19.0.0", "255.255.255.0"},
		{"10.0.0.1/32", "10.0.0.1", "255.255.255.255"},
	} {
		ip, mask, err := cidrMask(tc.cidr)
		if err != nil || ip != tc.ip || mask != tc.mask {
			t.Errorf("cidrMask(%s) = %s %s %v, want %s %s", tc.cidr, ip, mask, err, tc.ip, tc.mask)
		}
	}
	if _, _, err := cidrMask("not-a-cidr"); err == nil {
		t.Error("want an error for garbage")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/var/lib/with\040space/x`); got != "/var/lib/with space/x" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMount("/plain"); got != "/plain" {
		t.Errorf("got %q", got)
	}
}

func TestListeningPortsSeesARealListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if got := ListeningPorts([]int{port}); len(got) != 1 {
		t.Fatalf("listener on %d not seen: %v", port, got)
	}
	if PortsFree([]int{port}) == nil {
		t.Fatal("PortsFree accepted a busy port")
	}
	l.Close()
	if got := ListeningPorts([]int{port}); len(got) != 0 {
		t.Fatalf("closed listener still reported: %v", got)
	}
}
