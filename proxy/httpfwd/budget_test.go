package httpfwd

import (
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
)

func TestRetryBudget(t *testing.T) {
	clk := clocktest.New(time.Unix(1_000_000, 0))
	b := &retryBudget{now: clk.Now}
	granted := func(n int) int {
		ok := 0
		for range n {
			if b.withdraw() {
				ok++
			}
		}
		return ok
	}
	// No traffic: the floor alone, 10 per second of the 10 s window.
	if got := granted(500); got != 100 {
		t.Fatalf("floor: %d retries granted, want 100", got)
	}
	// 1000 requests add 20% of them.
	for range 1000 {
		b.request()
	}
	if got := granted(500); got != 200 {
		t.Fatalf("after 1000 requests: %d more retries granted, want 200", got)
	}
	// Spent retries age out with the window.
	clk.Advance(budgetWindow)
	if got := granted(500); got != 100 {
		t.Fatalf("a window later: %d retries granted, want the floor of 100", got)
	}
	// A service failing every request under steady load is retried for at
	// most 20% of it plus the floor (10/s), however long it fails.
	sent := 0
	for range 60 {
		clk.Advance(time.Second)
		for range 200 {
			b.request()
			if b.withdraw() {
				sent++
			}
		}
	}
	if max := 60*200*budgetPercent/100 + budgetFloor*(60+10); sent > max {
		t.Fatalf("%d retries for 12000 failing requests, want at most %d", sent, max)
	}
	if sent < 60*200*budgetPercent/100 {
		t.Fatalf("%d retries for 12000 failing requests, want the 20%% the budget allows", sent)
	}
}
