//go:build meshkeeper_faults

package sidecar

// fault returns the test-only fault decision, or nil when disabled. Only
// builds with the meshkeeper_faults tag (the e2e images) inject faults.
func fault(rate float64, random func() float64) func() bool {
	if rate <= 0 {
		return nil
	}
	return func() bool { return random() < rate }
}
