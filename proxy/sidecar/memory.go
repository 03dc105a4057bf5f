package sidecar

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax are the container's memory limit files (cgroup v2, v1).
var cgroupMemoryMax = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// TuneMemory sets the Go soft memory limit to 90% of the container's memory
// limit unless GOMEMLIMIT is set (then the runtime already applied it), and
// reports the limit in force. Near the container limit, collecting harder is
// better than being killed. The proxy sets no tighter limit of its own: a
// soft limit below the live heap of an overloaded proxy makes the GC run
// almost continuously (up to half the CPU), so requests queue, clients open
// more connections and the heap grows further. On 2 cores with one kept busy,
// 2000 RPS collapsed to a 2 s median with a 16 MiB limit and held at 0.5 to
// 54 ms without one; in calm load the heap stays near Go's minimum 4 MB goal
// and such a limit never bound.
func TuneMemory(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") == "" {
		for _, path := range cgroupMemoryMax {
			if b, err := os.ReadFile(path); err == nil {
				if limit := memoryLimitFor(string(b)); limit > 0 {
					debug.SetMemoryLimit(limit)
				}
				break
			}
		}
	}
	return debug.SetMemoryLimit(-1)
}

// memoryLimitFor returns the soft limit for a container memory limit file's
// content, 0 when the container is unlimited.
func memoryLimitFor(content string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(content), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 { // "max", or cgroup v1's "unlimited" sentinel
		return 0
	}
	return n / 10 * 9
}
