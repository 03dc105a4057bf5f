package netinit_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

func TestCheckPort(t *testing.T) {
	base := netinit.Config{InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191}
	for _, tc := range []struct {
		skip []uint16
		want uint16
	}{{nil, 9}, {[]uint16{9}, 10}, {[]uint16{10, 9, 11}, 12}} {
		c := base
		c.SkipOutboundPorts = tc.skip
		if got := netinit.CheckPort(c); got != tc.want {
			t.Errorf("skip %v: CheckPort = %d, want %d", tc.skip, got, tc.want)
		}
	}
	c := netinit.Config{InboundPort: 9, OutboundPort: 10, AdminPort: 11}
	if got := netinit.CheckPort(c); got != 12 {
		t.Errorf("proxy ports 9-11: CheckPort = %d, want 12", got)
	}
}

// TestCheckRedirect runs the CNI mode's startup check in a pod-like
// namespace with a default route: it fails clearly before the rules are
// installed, passes after, and refuses to run as the proxy's user. Needs root
// and the ip command.
func TestCheckRedirect(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	pod, _ := namespaces(t)
	ipCmd(t, "-n", pod, "route", "add", "default", "via", peerAddr4.String())
	ipCmd(t, "-n", pod, "-6", "route", "add", "default", "via", peerAddr.String())
	// Port 9 skipped: the check must pick a port the plan redirects.
	cfg := netinit.Config{ProxyUID: contract.ProxyUID, InboundPort: contract.ProxyInboundPort, OutboundPort: contract.ProxyOutboundPort,
		AdminPort: contract.ProxyAdminPort, SkipOutboundPorts: []uint16{9}}
	ctx := context.Background()
	inNetns(t, pod, func() error {
		err := netinit.CheckRedirect(ctx, cfg, contract.RedirectCheckUID, time.Second)
		if !errors.Is(err, netinit.ErrNotRedirected) || !strings.Contains(err.Error(), "192.0.2.1:10") || !strings.Contains(err.Error(), "[2001:db8::1]:10") {
			t.Errorf("without rules: %v, want ErrNotRedirected naming 192.0.2.1:10 and [2001:db8::1]:10", err)
		}
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		if err := netinit.Apply(conn, netinit.Plan(cfg)); err != nil {
			return err
		}
		if err := netinit.CheckRedirect(ctx, cfg, contract.RedirectCheckUID, 3*time.Second); err != nil {
			t.Errorf("with rules: %v", err)
		}
		// An IPv6-only pod: no IPv4 route, the IPv6 redirect proves the rules.
		ipCmd(t, "-n", pod, "route", "del", "default")
		if err := netinit.CheckRedirect(ctx, cfg, contract.RedirectCheckUID, 3*time.Second); err != nil {
			t.Errorf("with rules, IPv6 only: %v", err)
		}
		if err := netinit.CheckRedirect(ctx, cfg, contract.ProxyUID, time.Second); err == nil || !strings.Contains(err.Error(), "proxy's user") {
			t.Errorf("as the proxy's user: %v, want a refusal", err)
		}
		return nil
	})
}
