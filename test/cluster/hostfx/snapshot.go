package hostfx

import (
	"os"
	"path/filepath"
)

// Snapshot is the host state Restore returns to. It is stored in the cluster's
// state file, so a later `down` (or the reaper) can undo a run it did not start.
type Snapshot struct {
	Sysctls map[string]string `json:"sysctls"`
	// ExistingDirs lists hard-coded directories that were present before Up.
	ExistingDirs map[string]bool `json:"existingDirs"`
	// ExistingCgroups lists cgroup directories (per hierarchy) present before Up.
	ExistingCgroups map[string]bool `json:"existingCgroups"`
	// ExistingNetns lists /run/netns entries present before Up.
	ExistingNetns map[string]bool `json:"existingNetns"`
	// ExistingNfacct lists nfacct objects present before Up.
	ExistingNfacct map[string]bool `json:"existingNfacct"`
	// ExistingNftTables lists "family name" of nftables tables present before Up.
	ExistingNftTables map[string]bool `json:"existingNftTables"`
	// Uplinks are the interfaces carrying a default route, watched by the guard.
	Uplinks []string `json:"uplinks"`
}

// HardCodedDirs are directories components create regardless of their
// configured roots (containerd shim sockets, CNI caches, kubelet and pod logs).
var HardCodedDirs = []string{
	"/run/containerd", "/run/netns", "/var/lib/cni", "/var/log/pods", "/var/log/containers",
	"/var/lib/kubelet", "/var/lib/containerd", "/opt/containerd", "/etc/kubernetes", "/etc/cni",
	"/run/runc", "/run/mount", // libmount's utab, written by the mount(8) calls of the kubelet
}

// cgroupNames are the top-level cgroups the kubelet (cgroupfs driver) and
// containerd create in every hierarchy.
var cgroupNames = []string{"kubepods", "k8s.io"}

// Take records the host state before the cluster changes it.
func Take() (Snapshot, error) {
	s := Snapshot{
		Sysctls:           readSysctls(),
		ExistingDirs:      map[string]bool{},
		ExistingCgroups:   map[string]bool{},
		ExistingNetns:     map[string]bool{},
		ExistingNfacct:    map[string]bool{},
		ExistingNftTables: map[string]bool{},
	}
	for _, d := range HardCodedDirs {
		if _, err := os.Stat(d); err == nil {
			s.ExistingDirs[d] = true
		}
	}
	for _, c := range cgroupDirs() {
		if _, err := os.Stat(c); err == nil {
			s.ExistingCgroups[c] = true
		}
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			s.ExistingNetns[e.Name()] = true
		}
	}
	for _, name := range listNfacct() {
		s.ExistingNfacct[name] = true
	}
	for _, t := range nftTables() {
		s.ExistingNftTables[t] = true
	}
	up, err := uplinks()
	if err != nil {
		return s, err
	}
	s.Uplinks = up
	return s, nil
}

// cgroupDirs lists <hierarchy>/<name> for every mounted hierarchy.
func cgroupDirs() []string {
	var out []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() {
			continue
		}
		for _, n := range cgroupNames {
			out = append(out, filepath.Join(h, n))
		}
	}
	return out
}
