// Package clocktest is a manually advanced clock for tests.
package clocktest

import (
	"sync"
	"time"
)

// Fake is a clock that only moves when Advance is called.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	changed chan struct{} // closed and replaced whenever a waiter is added
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a fake clock set to now.
func New(now time.Time) *Fake { return &Fake{now: now, changed: make(chan struct{})} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	close(f.changed)
	f.changed = make(chan struct{})
	return ch
}

// Advance moves the clock and fires every wake-up that became due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = kept
}

// NextWakeup blocks until some goroutine is waiting on the clock and returns
// how far ahead its earliest wake-up is, or false if done closes first.
func (f *Fake) NextWakeup(done <-chan struct{}) (time.Duration, bool) {
	for {
		f.mu.Lock()
		if len(f.waiters) > 0 {
			next := f.waiters[0].at
			for _, w := range f.waiters[1:] {
				if w.at.Before(next) {
					next = w.at
				}
			}
			d := next.Sub(f.now)
			f.mu.Unlock()
			return d, true
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			return 0, false
		}
	}
}
