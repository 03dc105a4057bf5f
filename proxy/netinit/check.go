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

// The destinations the redirect check dials, one per family: documentation
// addresses (TEST-NET-1, 2001:db8::/32), never routed, so only the output
// redirect can make a connection to them succeed.
var checkAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}

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
// started yet), dials a documentation address, and expects to accept that
// very connection with that address as its original destination. One family
// proving it is enough (the rules are one inet table); trying both keeps
// single-stack pods of either family working. It needs no privilege, but
// must not run as the proxy's user, whose connections are exempt.
func CheckRedirect(ctx context.Context, c Config, uid int, timeout time.Duration) error {
	if uid == int(c.ProxyUID) {
		return fmt.Errorf("the check runs as the proxy's user %d, which the rules exempt: run it as another user", uid)
	}
	var errs []error
	for _, addr := range checkAddrs {
		err := checkFamily(ctx, c.OutboundPort, netip.AddrPortFrom(addr, CheckPort(c)), timeout)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: %w", ErrNotRedirected, errors.Join(errs...))
}

// checkFamily dials want and expects the outbound port, on the loopback
// address of want's family (where the output redirect sends it), to accept it.
func checkFamily(ctx context.Context, outboundPort uint16, want netip.AddrPort, timeout time.Duration) error {
	network, loopback := "tcp4", netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if want.Addr().Is6() {
		network, loopback = "tcp6", netip.IPv6Loopback()
	}
	ln, err := net.Listen(network, netip.AddrPortFrom(loopback, outboundPort).String())
	if err != nil {
		return fmt.Errorf("listen on %s port %d: %w", loopback, outboundPort, err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
	conn, err := (&net.Dialer{}).DialContext(ctx, network, want.String())
	if err != nil {
		return fmt.Errorf("a connection to %s was not redirected to the outbound port %d (%v)", want, outboundPort, err)
	}
	defer conn.Close()
	select {
	case dst := <-accepted:
		if dst != want {
			return fmt.Errorf("the outbound port accepted a connection for %s, want %s", dst, want)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("a connection to %s reached something other than the outbound port %d", want, outboundPort)
	}
}
