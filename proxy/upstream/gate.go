package upstream

import (
	"context"
	"sync/atomic"
	"time"
)

// Queueing for a connection of its own. A request beyond maxH1PerPeer in
// flight used to take the multiplexed HTTP/2 connection at once. When the
// peer answers quickly that is the slower choice: the HTTP/2 client and
// server cost goroutine hand-offs and CPU per request that the HTTP/1 fast
// path does not, spent exactly while the proxy's one core drains a burst.
// Measured on loopback (proxy/bench BenchmarkBurstDrain: bursts of 64
// concurrent 1 KiB POSTs through the proxy pair, GOMAXPROCS 1 each; two runs
// each): median request 11.1/13.7 ms and burst drained in 14.3/16.9 ms with
// the overflow on HTTP/2; 6.0/8.0 ms and 9.4/11.6 ms queueing here (HAProxy
// in the same runs: 6.0-7.6 ms and 7.8-10.2 ms). So an overflowing request
// waits up to maxQueueWait for one of the maxH1PerPeer connections to come
// free, and takes the multiplexed connection only then, or at once when this
// peer's requests hold their connection long or are not known yet (long
// polls, streams: none may come free for seconds).

const (
	// fastHold: a peer whose requests hold their connection this long or
	// less, on average, turns its connections over fast enough to queue for.
	// The average includes the proxy's own queueing, which grows in a burst.
	fastHold = 20 * time.Millisecond
	// maxQueueWait bounds the wait of one request for a connection.
	maxQueueWait = 10 * time.Millisecond
	// holdWeight: each request moves the average 1/holdWeight of the way.
	holdWeight = 8
)

// peerGate admits at most maxH1PerPeer HTTP/1 requests at a time to one
// meshed peer and keeps the average time a request holds its admission.
type peerGate struct {
	slots chan struct{}
	// hold is the moving average hold time in nanoseconds, 0 until the
	// first request ends. Concurrent updates may lose one another: a
	// heuristic needs no more.
	hold atomic.Int64
	// maxWait bounds a wait for a slot (maxQueueWait).
	maxWait time.Duration
}

func newPeerGate() *peerGate {
	return &peerGate{slots: make(chan struct{}, maxH1PerPeer), maxWait: maxQueueWait}
}

// enter admits a request: at once if a slot is free, else after waiting up
// to queueWait for one. false: take the multiplexed connection.
func (g *peerGate) enter(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	wait := queueWait(time.Duration(g.hold.Load()), g.maxWait)
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// leave frees the slot of a request that held it for held.
func (g *peerGate) leave(held time.Duration) {
	g.hold.Store(int64(nextHold(time.Duration(g.hold.Load()), held)))
	<-g.slots
}

// busy reports whether any request holds a slot.
func (g *peerGate) busy() bool { return len(g.slots) > 0 }

// nextHold is the moving average after one more request held its slot for
// held; it never returns 0 (unknown) once a request has ended.
func nextHold(avg, held time.Duration) time.Duration {
	if avg <= 0 {
		return max(held, 1)
	}
	return max(avg+(held-avg)/holdWeight, 1)
}

// queueWait is how long a request beyond the slots may wait for one, given
// the peer's average hold time (0: none seen yet) and the longest wait.
func queueWait(hold, longest time.Duration) time.Duration {
	if hold <= 0 || hold > fastHold {
		return 0
	}
	return longest
}
