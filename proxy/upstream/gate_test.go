package upstream

import (
	"context"
	"testing"
	"time"
)

func TestQueueWait(t *testing.T) {
	for _, c := range []struct {
		hold, want time.Duration
	}{
		{0, 0},                                 // nothing known of the peer yet: multiplex at once
		{500 * time.Microsecond, maxQueueWait}, // fast peer: queue
		{fastHold, maxQueueWait},
		{fastHold + 1, 0},     // slow requests: a connection may not come free soon
		{30 * time.Second, 0}, // long polls, streams
	} {
		if got := queueWait(c.hold, maxQueueWait); got != c.want {
			t.Errorf("queueWait(%v) = %v, want %v", c.hold, got, c.want)
		}
	}
}

func TestNextHold(t *testing.T) {
	for _, c := range []struct {
		avg, held, want time.Duration
	}{
		{0, 3 * time.Millisecond, 3 * time.Millisecond}, // the first sets it
		{0, 0, 1}, // known, however short
		{8 * time.Millisecond, 0, 7 * time.Millisecond},
		{8 * time.Millisecond, 16 * time.Millisecond, 9 * time.Millisecond},
	} {
		if got := nextHold(c.avg, c.held); got != c.want {
			t.Errorf("nextHold(%v, %v) = %v, want %v", c.avg, c.held, got, c.want)
		}
	}
}

// fill takes every slot of a fresh gate.
func fill(t *testing.T, g *peerGate) {
	t.Helper()
	for i := 0; i < maxH1PerPeer; i++ {
		if !g.enter(context.Background()) {
			t.Fatalf("slot %d refused", i)
		}
	}
}

// A gate admits maxH1PerPeer at once; beyond that, with nothing known of
// the peer's hold times, a request is sent to the multiplexed connection.
func TestGateFullUnknownPeerDoesNotWait(t *testing.T) {
	g := newPeerGate()
	g.maxWait = time.Hour // a wait would hang the test
	fill(t, g)
	if g.enter(context.Background()) {
		t.Fatal("admitted beyond maxH1PerPeer")
	}
}

// A fast peer's overflowing request waits for the next slot that comes free.
func TestGateFastPeerQueuesForAFreedSlot(t *testing.T) {
	g := newPeerGate()
	g.maxWait = time.Hour
	fill(t, g)
	g.leave(time.Millisecond)
	g.enter(context.Background()) // take the freed slot back: full again, hold known
	got := make(chan bool)
	go func() { got <- g.enter(context.Background()) }()
	g.leave(time.Millisecond)
	if !<-got {
		t.Fatal("a fast peer's request did not get the slot that came free")
	}
	if len(g.slots) != maxH1PerPeer {
		t.Fatalf("%d slots held, want %d", len(g.slots), maxH1PerPeer)
	}
}

// A slow peer's overflowing request goes to the multiplexed connection at once.
func TestGateSlowPeerDoesNotWait(t *testing.T) {
	g := newPeerGate()
	g.maxWait = time.Hour
	fill(t, g)
	g.leave(time.Minute)
	g.enter(context.Background())
	if g.enter(context.Background()) {
		t.Fatal("admitted beyond maxH1PerPeer")
	}
}

// The wait ends with the request's context, and after maxWait.
func TestGateWaitIsBounded(t *testing.T) {
	g := newPeerGate()
	g.maxWait = time.Hour
	fill(t, g)
	g.leave(time.Millisecond)
	g.enter(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if g.enter(ctx) {
		t.Fatal("admitted beyond maxH1PerPeer after the context ended")
	}
	g.maxWait = time.Millisecond
	if g.enter(context.Background()) {
		t.Fatal("admitted beyond maxH1PerPeer after the wait")
	}
}
