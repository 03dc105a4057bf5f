package sidecar

import "runtime"

// TuneCPU runs the proxy's Go code on at most cores threads at once
// (GOMAXPROCS), never more than the runtime chose from the machine and the
// container's CPU limit, and leaves an explicit GOMAXPROCS environment
// setting alone. It returns the GOMAXPROCS in force.
func TuneCPU(cores int, getenv func(string) string) int {
	if n := procsFor(cores, runtime.GOMAXPROCS(0), getenv("GOMAXPROCS") != ""); n != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}

func procsFor(cores, current int, explicit bool) int {
	if explicit || cores < 1 {
		return current
	}
	return min(cores, current)
}
