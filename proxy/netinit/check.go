package netinit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/origdst"
)

// checkAddr is the destination the redirect check dials: TEST-NET-1, never
// routed, so only the output redirect can make the connection succeed.
var checkAddr = netip.MustParseAddr("192.0.2.1")

// CheckPort picks the port the check dials: the first from 9 (discard) up
// that the plan redirects, i.e. not a skipped outbound port and not a port
// of the proxy itself.
func CheckPort(c Config) uint16 {
	for p := uint16(9); ; p++ {
		if !slices.Contains(c.SkipOutboundPorts, p) && p != c.OutboundPort && p != c.InboundPort && p != c.AdminPort {
			return p
		}
	}
}

// ErrNotRedirected is returned by CheckRedirect when the pod's rules are not
// there: the CNI plugin did not run for this pod.
var ErrNotRedirected = errors.New("the pod's redirect rules are missing")

// CheckRedirect proves the output redirect of the plan is installed in this
// network namespace: it listens on the outbound port (the proxy has not
// started yet), dials checkAddr, and expects to accept that very connection
// with checkAddr as its original destination. It needs no privilege, but
// must not run as the proxy's user, whose connections are exempt.
func CheckRedirect(ctx context.Context, c Config, uid int, timeout time.Duration) error {
	if uid == int(c.ProxyUID) {
		return fmt.Errorf("the check runs as the proxy's user %d, which the rules exempt: run it as another user", uid)
	}
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), c.OutboundPort).String())
	if err != nil {
		return fmt.Errorf("listen on the outbound port %d: %w", c.OutboundPort, err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := netip.AddrPortFrom(checkAddr, CheckPort(c))
	accepted := make(chan netip.AddrPort, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		dst, _ := origdst.Kernel{}.OriginalDst(conn)
		accepted <- dst
	}()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp4", want.String())
	if err != nil {
		return fmt.Errorf("%w: a connection to %s was not redirected to the outbound port %d (%v)", ErrNotRedirected, want, c.OutboundPort, err)
	}
	defer conn.Close()
	select {
	case dst := <-accepted:
		if dst != want {
			return fmt.Errorf("%w: the outbound port accepted a connection for %s, want %s", ErrNotRedirected, dst, want)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: a connection to %s reached something other than the outbound port %d", ErrNotRedirected, want, c.OutboundPort)
	}
}
