// Package testsupport is what tests across the repository share: one way to
// wait for a condition that another goroutine, process or controller makes
// true. Envtest API servers and the operator's scheme are in the kubeenv
// subpackage, so tests of the proxy do not link the Kubernetes client.
package testsupport

import (
	"errors"
	"testing"
	"time"
)

// errNotYet is what a false Until condition reports.
var errNotYet = errors.New("condition not met")

// Eventually calls check until it returns nil and fails t with what and the
// last error once timeout has passed. The deadline is measured on the
// process's monotonic clock, never on a clock a test injects into the code
// under test, so stepping a fake clock neither expires it nor stops it.
// Polling starts at 1 ms and backs off to 200 ms: quick for loopback I/O,
// gentle on an API server.
func Eventually(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	start := time.Now()
	interval := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Since(start) >= timeout {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
		interval = min(2*interval, 200*time.Millisecond)
	}
}

// Until is Eventually for a condition without an error to report.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	Eventually(t, what, timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}
