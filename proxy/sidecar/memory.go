package sidecar

import "runtime/debug"

// DefaultMemoryLimit is the Go soft memory limit the proxy sets for itself
// when the GOMEMLIMIT environment variable is not set. A sidecar runs in every
// pod, so its footprint matters more than a few percent of CPU: after a burst
// of connections the runtime returns memory above the limit to the system
// promptly instead of keeping the burst's peak resident. The limit is soft:
// live memory above it costs more frequent GC (the runtime caps GC at about
// half the CPU), never an out-of-memory error. GOGC keeps its default.
const DefaultMemoryLimit = 16 << 20

// TuneMemory applies DefaultMemoryLimit unless GOMEMLIMIT is set (then the
// runtime already applied it) and reports the limit in force.
func TuneMemory(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
