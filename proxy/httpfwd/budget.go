package httpfwd

import (
	"sync"
	"time"
)

// Retry budget, as Finagle's RetryBudget and Linkerd's retry budgets: over
// the last budgetWindow, retries may number budgetPercent of the requests
// plus budgetFloor per second of the window (so a quiet client can still
// retry). A service that fails every request thus receives about 1.2 times
// its traffic, never maxAttempts times.
const (
	budgetWindow  = 10 * time.Second
	budgetPercent = 20
	budgetFloor   = 10 // retries per second
)

// retryBudget counts requests and retries in one-second buckets.
type retryBudget struct {
	now func() time.Time

	mu      sync.Mutex
	buckets [budgetWindow / time.Second]budgetBucket
}

type budgetBucket struct {
	sec               int64
	requests, retries int64
}

// bucket returns the bucket of the current second, emptied if it held an
// older one. The caller holds mu.
func (b *retryBudget) bucket(sec int64) *budgetBucket {
	k := &b.buckets[uint64(sec)%uint64(len(b.buckets))]
	if k.sec != sec {
		*k = budgetBucket{sec: sec}
	}
	return k
}

// request deposits one request.
func (b *retryBudget) request() {
	sec := b.now().Unix()
	b.mu.Lock()
	b.bucket(sec).requests++
	b.mu.Unlock()
}

// withdraw takes one retry from the budget; false when it is spent.
func (b *retryBudget) withdraw() bool {
	sec := b.now().Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	var requests, retries int64
	for _, k := range b.buckets {
		if sec-k.sec < int64(len(b.buckets)) {
			requests += k.requests
			retries += k.retries
		}
	}
	if retries >= requests*budgetPercent/100+budgetFloor*int64(len(b.buckets)) {
		return false
	}
	b.bucket(sec).retries++
	return true
}
