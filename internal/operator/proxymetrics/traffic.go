package proxymetrics

import "math"

// Add sums two traffic counts (e.g. the pods of one wave).
func (t Traffic) Add(o Traffic) Traffic {
	sum := map[float64]float64{}
	for _, b := range t.Buckets {
		sum[b.UpperBound] += b.Count
	}
	for _, b := range o.Buckets {
		sum[b.UpperBound] += b.Count
	}
	return Traffic{Requests: t.Requests + o.Requests, Failures: t.Failures + o.Failures, Buckets: sortedBuckets(sum)}
}

// Since is the traffic between an earlier count and this one. A counter that
// went backwards means the proxy restarted: everything it now reports is new.
func (t Traffic) Since(earlier Traffic) Traffic {
	if t.Requests < earlier.Requests {
		return t
	}
	prev := map[float64]float64{}
	for _, b := range earlier.Buckets {
		prev[b.UpperBound] = b.Count
	}
	out := Traffic{Requests: t.Requests - earlier.Requests, Failures: math.Max(0, t.Failures-earlier.Failures)}
	for _, b := range t.Buckets {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.UpperBound, Count: math.Max(0, b.Count-prev[b.UpperBound])})
	}
	return out
}

// SuccessRate is the share of requests that did not fail; 1 with no requests.
func (t Traffic) SuccessRate() float64 {
	if t.Requests == 0 {
		return 1
	}
	return (t.Requests - t.Failures) / t.Requests
}

// Quantile estimates the q-quantile latency in seconds from the cumulative
// buckets, interpolating linearly inside a bucket as PromQL's
// histogram_quantile does. It returns NaN without observations and the
// highest finite bound when the quantile falls in the +Inf bucket.
func (t Traffic) Quantile(q float64) float64 {
	if len(t.Buckets) == 0 {
		return math.NaN()
	}
	total := t.Buckets[len(t.Buckets)-1].Count
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lowerBound, lowerCount := 0.0, 0.0
	for _, b := range t.Buckets {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				return lowerBound
			}
			if b.Count == lowerCount {
				return b.UpperBound
			}
			return lowerBound + (b.UpperBound-lowerBound)*(rank-lowerCount)/(b.Count-lowerCount)
		}
		lowerBound, lowerCount = b.UpperBound, b.Count
	}
	return lowerBound
}
