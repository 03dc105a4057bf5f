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
		if err := deleteConntrack(runConntrack, args); err != nil {
			return err
		}
	}
	return nil
}

// runConntrack is the conntrack binary; a variable so the retry rules are
// tested without touching the host's table.
var runConntrack = func(args ...string) (string, error) { return run(iptTimeout, "conntrack", args...) }

// conntrackAttempts bounds retries of one delete: each retry only finds the
// entries created or still left since the last one, so a few suffice.
const conntrackAttempts = 4

// deleteConntrack runs one `conntrack -D` filter until it succeeds. conntrack
// dumps the matching entries and then deletes them one by one; an entry that
// expires in between (a TIME_WAIT timing out) makes it print "such conntrack
// doesn't exist" and exit 1 although everything else was deleted. That is a
// race with the kernel, not a failure, so the delete is repeated; exit 1 with
// "0 flow entries" means nothing matched. The error keeps only conntrack's
// last line: its output lists every entry it deleted.
func deleteConntrack(runCT func(...string) (string, error), args []string) error {
	var err error
	for range conntrackAttempts {
		var out string
		out, err = runCT(args...)
		switch {
		case err == nil, strings.Contains(out, "0 flow entries"):
			return nil
		case strings.Contains(out, "such conntrack doesn't exist"):
			continue
		default:
			return fmt.Errorf("conntrack %s: %s", strings.Join(args, " "), lastLine(out))
		}
	}
	return fmt.Errorf("conntrack %s: entries kept expiring during %d deletes: %w", strings.Join(args, " "), conntrackAttempts, err)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
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
