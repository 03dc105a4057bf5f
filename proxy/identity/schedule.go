package identity

import (
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/clock"
)

// Renewal happens at RenewFraction of a certificate's remaining lifetime,
// spread by ±RenewJitter of it so a fleet restarted together does not renew
// in lockstep against the identity service.
const (
	RenewFraction = 0.7
	RenewJitter   = 0.05
)

// Retry backoff after a failed request: doubling from RetryBase, capped.
const (
	RetryBase = 500 * time.Millisecond
	RetryMax  = 30 * time.Second
)

// RenewAt returns when to renew a certificate received at issued that expires
// at notAfter; jitter is uniform in [0,1).
func RenewAt(issued, notAfter time.Time, jitter float64) time.Time {
	life := notAfter.Sub(issued)
	if life <= 0 {
		return issued
	}
	frac := RenewFraction + (2*jitter-1)*RenewJitter
	// Rounded so float error never shows up as a nanosecond-early schedule.
	return issued.Add(time.Duration(float64(life) * frac).Round(time.Millisecond))
}

// Backoff returns the wait before retry number attempt (0-based).
func Backoff(attempt int) time.Duration { return clock.Exponential(attempt, RetryBase, RetryMax) }
