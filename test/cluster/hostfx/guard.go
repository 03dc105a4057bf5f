package hostfx

import (
	"strings"
	"time"
)

// GuardChain drops cluster-range traffic that would leave through an uplink.
const GuardChain = "MESHKEEPER-GUARD"

const iptTimeout = 20 * time.Second

// guardHooks are the built-in chains that jump to the guard: FORWARD for pod
// traffic, OUTPUT for host processes speaking from the node IP.
var guardHooks = []string{"FORWARD", "OUTPUT"}

// InstallGuard creates the guard chain with DROP rules for cidr on each uplink.
func InstallGuard(cidr string, uplinks []string) error {
	if _, err := run(iptTimeout, "iptables", "-w", "-N", GuardChain); err != nil {
		return err
	}
	for _, dev := range uplinks {
		for _, dir := range []string{"-s", "-d"} {
			if _, err := run(iptTimeout, "iptables", "-w", "-A", GuardChain, dir, cidr, "-o", dev, "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	for _, hook := range guardHooks {
		if _, err := run(iptTimeout, "iptables", "-w", "-I", hook, "1", "-j", GuardChain); err != nil {
			return err
		}
	}
	return nil
}

// RemoveGuard deletes every jump to the guard chain and the chain itself.
func RemoveGuard() error {
	if _, err := run(iptTimeout, "iptables", "-w", "-n", "-L", GuardChain); err != nil {
		return nil // not installed
	}
	for _, hook := range guardHooks {
		for i := 0; i < 10; i++ { // bounded: one jump per Up, but tolerate repeats
			if _, err := run(iptTimeout, "iptables", "-w", "-D", hook, "-j", GuardChain); err != nil {
				break
			}
		}
	}
	if _, err := run(iptTimeout, "iptables", "-w", "-F", GuardChain); err != nil {
		return err
	}
	_, err := run(iptTimeout, "iptables", "-w", "-X", GuardChain)
	return err
}

// GuardDrops returns the guard's packet counters, for status output.
func GuardDrops() string {
	out, err := run(iptTimeout, "iptables", "-w", "-n", "-v", "-x", "-L", GuardChain)
	if err != nil {
		return "not installed"
	}
	return strings.TrimSpace(out)
}
