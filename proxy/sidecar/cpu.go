package sidecar

import "runtime"

// TuneCPU runs the proxy's Go code on at most cores threads at once
// (GOMAXPROCS), never more than the runtime chose from the machine and the
// container's CPU limit, and leaves an explicit GOMAXPROCS environment
// setting alone. It returns the GOMAXPROCS in force.
func TuneCPU(cores int, getenv func(string) string) int {
	current := runtime.GOMAXPROCS(0)
	n := procsFor(cores, current, getenv("GOMAXPROCS") != "")
	if n != current {
		// Only a change: setting GOMAXPROCS stops the runtime from following
		// later changes of the CPU limit.
		runtime.GOMAXPROCS(n)
	}
	return n
}

func procsFor(cores, current int, explicit bool) int {
	if explicit || cores < 1 {
		return current
	}
	return min(cores, current)
}
