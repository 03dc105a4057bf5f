package inject

import (
	"slices"
	"strconv"
	"strings"
)

// ParsePortList reads a comma-separated port annotation. It returns the valid
// ports, sorted and de-duplicated, as a canonical CSV, plus the entries it
// ignored so the webhook can warn about them.
func ParsePortList(value string) (csv string, invalid []string) {
	var ports []int
	for field := range strings.SplitSeq(value, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		port, err := strconv.Atoi(field)
		if err != nil || port < 1 || port > 65535 {
			invalid = append(invalid, field)
			continue
		}
		ports = append(ports, port)
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = strconv.Itoa(p)
	}
	return strings.Join(parts, ","), invalid
}
