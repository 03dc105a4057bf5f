package controllers

import (
	"sync"
	"time"
)

// shiftedClock is the suite's injected clock: real time plus an offset a
// test moves forward. Real time keeps passing for the tests that wait on
// requeues; a test that needs a date a year ahead shifts it and puts it back.
// (k8s.io/utils/clock/testing's fake clocks stand still, which would stop
// every time-based requeue of the other tests.)
type shiftedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// shift moves the clock by d.
func (c *shiftedClock) shift(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// reset puts the clock back to real time.
func (c *shiftedClock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = 0
}
