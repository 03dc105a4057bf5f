package identity

import (
	"testing"
	"time"
)

func TestRenewAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		life   time.Duration
		jitter float64
		want   time.Duration
	}{
		{"middle of jitter is 70%", 100 * time.Hour, 0.5, 70 * time.Hour},
		{"lowest jitter is 65%", 100 * time.Hour, 0, 65 * time.Hour},
		{"highest jitter approaches 75%", 100 * time.Hour, 1, 75 * time.Hour},
		{"already expired renews now", -time.Hour, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RenewAt(t0, t0.Add(tt.life), tt.jitter).Sub(t0); got != tt.want {
				t.Fatalf("RenewAt = +%v, want +%v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := Backoff(i); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i, got, w)
		}
	}
	if Backoff(1000) != RetryMax {
		t.Error("large attempt not capped")
	}
}
