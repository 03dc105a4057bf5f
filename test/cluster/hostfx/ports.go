package hostfx

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ListeningPorts returns which of the given TCP ports have a listener on any
// address (IPv4 or IPv6), read from /proc/net so no probe is needed.
func ListeningPorts(ports []int) []int {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	found := map[int]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			i := strings.LastIndexByte(fields[1], ':')
			port, err := strconv.ParseUint(fields[1][i+1:], 16, 16)
			if err == nil && want[int(port)] {
				found[int(port)] = true
			}
		}
	}
	var out []int
	for _, p := range ports {
		if found[p] {
			out = append(out, p)
		}
	}
	return out
}

// PortsFree errors if any port already has a listener.
func PortsFree(ports []int) error {
	if busy := ListeningPorts(ports); len(busy) > 0 {
		return fmt.Errorf("ports already in use: %v", busy)
	}
	return nil
}
