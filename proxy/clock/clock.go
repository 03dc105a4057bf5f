// Package clock lets time-dependent proxy logic (renewal, backoff, reload)
// run against a fake clock in tests.
package clock

import "time"

// Clock tells the time and schedules wake-ups.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Exponential is the wait before retry number attempt (0-based): base doubled
// per attempt, capped at max.
func Exponential(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
