package main

import (
	"math"

	"github.com/meshkeeper/meshkeeper/internal/testsupport/apicount"
)

// wire carries a Point from a child process as JSON, which has no +Inf and
// no struct map keys.
type wire struct {
	Point
	NoopRequests []wireCount
	P50Inf       bool
	P99Inf       bool
}

type wireCount struct {
	apicount.Key
	N int
}

func wirePoint(p Point) wire {
	w := wire{Point: p, P50Inf: math.IsInf(p.QueueLatencyP50, 1), P99Inf: math.IsInf(p.QueueLatencyP99, 1)}
	for k, v := range p.NoopRequests {
		w.NoopRequests = append(w.NoopRequests, wireCount{Key: k, N: v})
	}
	w.Point.NoopRequests = nil
	if w.P50Inf {
		w.Point.QueueLatencyP50 = 0
	}
	if w.P99Inf {
		w.Point.QueueLatencyP99 = 0
	}
	return w
}

func (w wire) point() Point {
	p := w.Point
	p.NoopRequests = apicount.Counts{}
	for _, c := range w.NoopRequests {
		p.NoopRequests[c.Key] = c.N
	}
	if w.P50Inf {
		p.QueueLatencyP50 = math.Inf(1)
	}
	if w.P99Inf {
		p.QueueLatencyP99 = math.Inf(1)
	}
	return p
}
