package sidecar

import "testing"

func TestMemoryLimitFor(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    int64
	}{
		{"134217728\n", 120795948},
		{"max\n", 0},
		{"9223372036854771712\n", 0}, // cgroup v1 without a limit
		{"", 0},
	} {
		if got := memoryLimitFor(tc.content); got != tc.want {
			t.Errorf("memoryLimitFor(%q) = %d, want %d", tc.content, got, tc.want)
		}
	}
}
