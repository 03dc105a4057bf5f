package hostfx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Owned names what Restore may remove besides the snapshot's differences.
type Owned struct {
	WorkDir  string
	Bridges  []string
	GuardFor string // the guarded CIDR, also the conntrack range to flush
}

// Restore undoes every host side effect recorded against snap. It is safe to
// run repeatedly and after a partial Up; it keeps going past errors and
// returns them all. All cluster processes must already be stopped.
func Restore(snap Snapshot, owned Owned, log func(string, ...any)) error {
	var errs []error
	add := func(step string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", step, err))
		}
	}
	cgroups := NewCgroups(snap.ExistingCgroups)
	killCgroupProcs(cgroups)

	log("unmounting pod volumes, sandboxes and network namespaces")
	prefixes := []string{owned.WorkDir}
	for _, d := range []string{"/run/containerd", "/var/lib/kubelet"} {
		if !snap.ExistingDirs[d] {
			prefixes = append(prefixes, d)
		}
	}
	for _, ns := range newNetns(snap.ExistingNetns) {
		prefixes = append(prefixes, ns)
	}
	add("unmount", unmountUnder(prefixes...))
	for _, ns := range newNetns(snap.ExistingNetns) {
		add("remove netns", os.Remove(ns))
	}

	log("removing bridges, guard chain, kube-proxy leftovers, conntrack entries")
	for _, b := range owned.Bridges {
		add("delete bridge "+b, DeleteBridge(b))
	}
	add("guard", RemoveGuard())
	add("KUBE-* chains", RemoveKubeChains())
	add("nfacct", removeNewNfacct(snap.ExistingNfacct))
	add("nftables", removeNewEmptyNftTables(snap.ExistingNftTables))
	if owned.GuardFor != "" {
		add("conntrack", flushConntrack(owned.GuardFor))
	}

	log("restoring sysctls, cgroups and directories")
	errs = append(errs, restoreSysctls(snap.Sysctls)...)
	add("cgroups", removeCgroups(cgroups, 10*time.Second))
	for _, d := range HardCodedDirs {
		if !snap.ExistingDirs[d] {
			add("remove "+d, os.RemoveAll(d))
		}
	}
	return errors.Join(errs...)
}

func newNetns(existing map[string]bool) []string {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !existing[e.Name()] {
			out = append(out, filepath.Join("/run/netns", e.Name()))
		}
	}
	return out
}
