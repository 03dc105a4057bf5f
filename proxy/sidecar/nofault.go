//go:build !meshkeeper_faults

package sidecar

// fault is never set in a production build.
func fault(float64, func() float64) func() bool { return nil }
