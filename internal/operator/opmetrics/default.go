package opmetrics

import (
	"sync"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Default returns the collectors registered once with controller-runtime's
// registry, which the manager serves on its metrics endpoint.
var Default = sync.OnceValue(func() *Metrics {
	m, err := New(ctrlmetrics.Registry)
	if err != nil {
		panic(err) // only a programming error: a name registered twice
	}
	return m
})
