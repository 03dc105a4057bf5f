// Package netinit writes the pod's traffic redirection: NAT rules in the pod
// network namespace that send inbound TCP to the proxy's inbound port and the
// application's outbound TCP to its outbound port, over IPv4 and IPv6 alike
// (one inet table). Plan is pure; Apply installs the plan over netlink with
// nftables (no iptables binary).
package netinit

import (
	"fmt"
	"slices"
)

// Config is proxy-init's command line.
type Config struct {
	ProxyUID          uint32
	InboundPort       uint16
	OutboundPort      uint16
	AdminPort         uint16
	SkipInboundPorts  []uint16
	SkipOutboundPorts []uint16
}

// Chain is where a rule is evaluated.
type Chain string

const (
	// Prerouting sees connections arriving at the pod.
	Prerouting Chain = "prerouting"
	// Output sees connections opened inside the pod.
	Output Chain = "output"
)

// Family is an IP version, for the rules that depend on it.
type Family string

const (
	IPv4 Family = "ip"
	IPv6 Family = "ip6"
)

// Rule matches TCP and either returns (leaves the packet alone) or
// redirects it to a local port. All set conditions must hold.
type Rule struct {
	Chain Chain
	// DstPort, when non-zero, matches that destination port only.
	DstPort uint16
	// OwnerUID, when set, matches sockets owned by that user.
	OwnerUID *uint32
	// DstLoopback, when set, matches that family's loopback destinations:
	// 127.0.0.0/8 or ::1.
	DstLoopback Family
	// RedirectTo is the local port to redirect to; 0 means return.
	RedirectTo uint16
}

func (r Rule) String() string {
	s := string(r.Chain) + ": tcp"
	if r.OwnerUID != nil {
		s += fmt.Sprintf(" skuid %d", *r.OwnerUID)
	}
	switch r.DstLoopback {
	case IPv4:
		s += " ip daddr 127.0.0.0/8"
	case IPv6:
		s += " ip6 daddr ::1"
	}
	if r.DstPort != 0 {
		s += fmt.Sprintf(" dport %d", r.DstPort)
	}
	if r.RedirectTo != 0 {
		return s + fmt.Sprintf(" redirect :%d", r.RedirectTo)
	}
	return s + " return"
}

// Plan returns the rules, in evaluation order:
//   - prerouting: the admin port, the inbound port itself and skipped ports are
//     left alone; every other TCP connection into the pod goes to the inbound port;
//   - output: the proxy's own connections, loopback traffic (both families)
//     and skipped ports are left alone; every other TCP connection goes to
//     the outbound port.
//
// Only the loopback rules depend on the family; the table is inet, so every
// other rule, the proxy's exemption included, holds for IPv6 as for IPv4.
func Plan(c Config) []Rule {
	var rules []Rule
	for _, p := range dedupe(append([]uint16{c.AdminPort, c.InboundPort}, c.SkipInboundPorts...)) {
		rules = append(rules, Rule{Chain: Prerouting, DstPort: p})
	}
	rules = append(rules, Rule{Chain: Prerouting, RedirectTo: c.InboundPort})
	uid := c.ProxyUID
	rules = append(rules,
		Rule{Chain: Output, OwnerUID: &uid},
		Rule{Chain: Output, DstLoopback: IPv4},
		Rule{Chain: Output, DstLoopback: IPv6},
	)
	for _, p := range dedupe(c.SkipOutboundPorts) {
		rules = append(rules, Rule{Chain: Output, DstPort: p})
	}
	return append(rules, Rule{Chain: Output, RedirectTo: c.OutboundPort})
}

// dedupe keeps the first occurrence of each port, dropping zeros.
func dedupe(ports []uint16) []uint16 {
	var out []uint16
	for _, p := range ports {
		if p != 0 && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
