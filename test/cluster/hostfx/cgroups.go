package hostfx

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NewCgroups lists the cluster's top-level cgroups that did not exist before Up.
func NewCgroups(existing map[string]bool) []string {
	var out []string
	for _, c := range cgroupDirs() {
		if _, err := os.Stat(c); err == nil && !existing[c] {
			out = append(out, c)
		}
	}
	return out
}

// killCgroupProcs SIGKILLs every process left in the given cgroup trees. They
// can only be pod processes of this cluster: the trees did not exist before Up.
func killCgroupProcs(roots []string) {
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// removeCgroups removes the trees bottom-up, retrying while killed processes exit.
func removeCgroups(roots []string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var dirs []string
		for _, root := range roots {
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
		}
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		var errs []error
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, &os.PathError{Op: "rmdir", Path: d, Err: err})
			}
		}
		if len(errs) == 0 || time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		killCgroupProcs(roots)
		time.Sleep(200 * time.Millisecond)
	}
}
