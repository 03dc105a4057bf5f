package hostfx

import (
	"os"
	"time"
)

// requirement maps a file the cluster (or its e2e suite) needs to the Debian
// package providing it.
type requirement struct{ path, pkg string }

var requirements = []requirement{
	{"/usr/bin/containerd", "containerd"},
	{"/usr/bin/ctr", "containerd"},
	{"/usr/sbin/runc", "runc"},
	{"/usr/sbin/iptables", "iptables"},
	{"/usr/lib/cni/bridge", "containernetworking-plugins"},
	{"/usr/lib/cni/host-local", "containernetworking-plugins"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins"},
	{"/usr/sbin/conntrack", "conntrack"},
	{"/usr/sbin/nfacct", "nfacct"},
	{"/usr/sbin/nft", "nftables"},
	// Not the cluster's own: the e2e suite runs a Prometheus on the host that
	// scrapes the proxies for the upgrade's Prometheus-source gate.
	{"/usr/bin/prometheus", "prometheus"},
}

// EnsurePackages installs the Debian packages whose files are missing (after an
// `apt-get update`), bounded in time. Installed packages stay: they are tools,
// not cluster state, and a second run reuses them.
func EnsurePackages(log func(string, ...any)) error {
	seen := map[string]bool{}
	var missing []string
	for _, r := range requirements {
		if _, err := os.Stat(r.path); err != nil && !seen[r.pkg] {
			seen[r.pkg] = true
			missing = append(missing, r.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	log("installing Debian packages %v (apt-get update first)", missing)
	if _, err := run(5*time.Minute, "apt-get", "update", "-qq"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)
	_, err := run(10*time.Minute, "env", append([]string{"DEBIAN_FRONTEND=noninteractive", "apt-get"}, args...)...)
	return err
}
