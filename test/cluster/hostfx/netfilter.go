package hostfx

import (
	"errors"
	"fmt"
	"strings"
)

// kubeChainPrefix marks chains kube-proxy and the kubelet create.
const kubeChainPrefix = "KUBE-"

// KubeChainsPresent reports any KUBE-* chain in the IPv4/IPv6 tables; Up refuses
// to start on such a host, because Down could not tell them apart from its own.
func KubeChainsPresent() []string {
	var found []string
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		out, err := run(iptTimeout, bin)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, ":"+kubeChainPrefix) {
				found = append(found, bin+" "+strings.Fields(line)[0][1:])
			}
		}
	}
	return found
}

// RemoveKubeChains deletes the jumps into KUBE-* chains from built-in chains,
// then flushes and deletes those chains, in every table of IPv4 and IPv6. It
// runs after `kube-proxy --cleanup` to catch what the kubelet left.
func RemoveKubeChains() error {
	var errs []error
	for _, fam := range []struct{ save, ipt string }{{"iptables-save", "iptables"}, {"ip6tables-save", "ip6tables"}} {
		out, err := run(iptTimeout, fam.save)
		if err != nil {
			continue
		}
		table := ""
		var chains []string
		var jumps [][]string
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(line, "*"):
				table = line[1:]
			case strings.HasPrefix(line, ":"+kubeChainPrefix):
				chains = append(chains, table+" "+strings.Fields(line)[0][1:])
			case strings.HasPrefix(line, "-A ") && strings.Contains(line, "-j "+kubeChainPrefix):
				f := strings.Fields(line)
				if !strings.HasPrefix(f[1], kubeChainPrefix) {
					jumps = append(jumps, append([]string{"-w", "-t", table, "-D"}, f[1:]...))
				}
			}
		}
		for _, j := range jumps {
			if _, err := run(iptTimeout, fam.ipt, j...); err != nil {
				errs = append(errs, err)
			}
		}
		for _, c := range chains { // flush all first: chains may reference each other
			tc := strings.Fields(c)
			_, _ = run(iptTimeout, fam.ipt, "-w", "-t", tc[0], "-F", tc[1])
		}
		for _, c := range chains {
			tc := strings.Fields(c)
			if _, err := run(iptTimeout, fam.ipt, "-w", "-t", tc[0], "-X", tc[1]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// listNfacct returns the names of nfacct objects (empty if the tool is absent).
func listNfacct() []string {
	out, err := run(iptTimeout, "nfacct", "list")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// { pkts = ..., bytes = ... } = name;
		if i := strings.LastIndex(line, "= "); i >= 0 && strings.HasSuffix(line, ";") {
			names = append(names, strings.TrimSuffix(line[i+2:], ";"))
		}
	}
	return names
}

// removeNewNfacct deletes nfacct objects that did not exist before Up
// (kube-proxy creates two counters).
func removeNewNfacct(existing map[string]bool) error {
	var errs []error
	for _, n := range listNfacct() {
		if !existing[n] {
			if _, err := run(iptTimeout, "nfacct", "del", n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// flushConntrack deletes connection-tracking entries from or to the cluster
// range (both directions, original and reply tuples).
func flushConntrack(cidr string) error {
	ip, mask, err := cidrMask(cidr)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-D", "--orig-src", ip, "--mask-src", mask},
		{"-D", "--orig-dst", ip, "--mask-dst", mask},
	} {
		// conntrack exits 1 when nothing matched; only a missing tool is an error.
		if out, err := run(iptTimeout, "conntrack", args...); err != nil && !strings.Contains(out, "0 flow entries") {
			return err
		}
	}
	return nil
}

func cidrMask(cidr string) (string, string, error) {
	var a, b, c, d, bits int
	if _, err := fmt.Sscanf(cidr, "%d.%d.%d.%d/%d", &a, &b, &c, &d, &bits); err != nil {
		return "", "", fmt.Errorf("parse %s: %w", cidr, err)
	}
	m := ^uint32(0) << (32 - bits)
	return fmt.Sprintf("%d.%d.%d.%d", a, b, c, d),
		fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&255, m>>8&255, m&255), nil
}
