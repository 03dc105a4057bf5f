package hostfx

import (
	"fmt"
	"os"
	"strings"
)

// watchedSysctls are the values the kubelet, kube-proxy, containerd and the CNI
// plugins are known to change.
var watchedSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
	"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.route_localnet",
	"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
	"net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_tcp_timeout_established",
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait", "net.ipv4.conf.all.rp_filter",
	"fs.inotify.max_user_instances", "fs.inotify.max_user_watches",
}

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

func readSysctls() map[string]string {
	out := map[string]string{}
	for _, k := range watchedSysctls {
		if b, err := os.ReadFile(sysctlPath(k)); err == nil {
			out[k] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// restoreSysctls writes back every recorded value that differs now, in the
// recorded order so ip_forward (which resets per-interface values) goes first.
func restoreSysctls(saved map[string]string) []error {
	var errs []error
	for _, k := range watchedSysctls {
		want, ok := saved[k]
		if !ok {
			continue
		}
		b, err := os.ReadFile(sysctlPath(k))
		if err != nil || strings.TrimSpace(string(b)) == want {
			continue
		}
		if err := os.WriteFile(sysctlPath(k), []byte(want), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, want, err))
		}
	}
	return errs
}

// SysctlDrift lists watched sysctls whose value differs from the snapshot.
func SysctlDrift(saved map[string]string) []string {
	now := readSysctls()
	var out []string
	for _, k := range watchedSysctls {
		if saved[k] != now[k] {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, saved[k], now[k]))
		}
	}
	return out
}
