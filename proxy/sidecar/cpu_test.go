package sidecar

import "testing"

func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		cores, current int
		explicit       bool
		want           int
	}{
		{1, 8, false, 1},
		{2, 8, false, 2},
		{4, 2, false, 2}, // never above the machine or the CPU limit
		{1, 8, true, 8},  // GOMAXPROCS set by hand wins
		{0, 8, false, 8}, // unset
	} {
		if got := procsFor(c.cores, c.current, c.explicit); got != c.want {
			t.Errorf("procsFor(%d, %d, %v) = %d, want %d", c.cores, c.current, c.explicit, got, c.want)
		}
	}
}
