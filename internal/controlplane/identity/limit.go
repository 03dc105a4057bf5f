package identity

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Per-caller rate limit of certify requests. A proxy certifies once per half
// leaf lifetime (and at start), so a handful per minute is generous; the burst
// lets every pod of a node (one address each) restart at once.
const (
	DefaultCallerRate  = rate.Limit(1) // requests per second, sustained
	DefaultCallerBurst = 10
	// maxCallers bounds the limiter table; beyond it, idle entries are dropped first.
	maxCallers = 65536
	callerIdle = 10 * time.Minute
)

// callerLimiter is a token bucket per caller address, so one noisy or hostile
// pod cannot make the service hammer the API server with TokenReviews.
type callerLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	callers map[string]*caller
}

type caller struct {
	lim  *rate.Limiter
	seen time.Time
}

func newCallerLimiter(limit rate.Limit, burst int) *callerLimiter {
	return &callerLimiter{limit: limit, burst: burst, callers: map[string]*caller{}}
}

// allow takes one token from addr's bucket at now.
func (l *callerLimiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.callers[addr]
	if !ok {
		if len(l.callers) >= maxCallers {
			l.evict(now)
		}
		c = &caller{lim: rate.NewLimiter(l.limit, l.burst)}
		l.callers[addr] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}

// evict drops callers idle for callerIdle (their buckets are full again, so
// forgetting them changes nothing); if none is, it drops the table.
func (l *callerLimiter) evict(now time.Time) {
	for addr, c := range l.callers {
		if now.Sub(c.seen) > callerIdle {
			delete(l.callers, addr)
		}
	}
	if len(l.callers) >= maxCallers {
		clear(l.callers)
	}
}
