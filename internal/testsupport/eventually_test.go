package testsupport

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recordingTB captures a Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func run(tb *recordingTB, f func()) {
	defer func() {
		if p := recover(); p != nil && p != tb {
			panic(p)
		}
	}()
	f()
}

func TestEventuallyReturnsOnceTheCheckPasses(t *testing.T) {
	var calls atomic.Int32
	tb := &recordingTB{TB: t}
	run(tb, func() {
		Eventually(tb, "third call", time.Second, func() error {
			if calls.Add(1) < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	if tb.failed != "" || calls.Load() != 3 {
		t.Fatalf("failed %q after %d calls", tb.failed, calls.Load())
	}
}

func TestEventuallyFailsWithTheLastErrorAfterTheTimeout(t *testing.T) {
	tb := &recordingTB{TB: t}
	start := time.Now()
	n := 0
	run(tb, func() {
		Eventually(tb, "never", 50*time.Millisecond, func() error { n++; return fmt.Errorf("attempt %d", n) })
	})
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Fatalf("gave up after %s, before the timeout", elapsed)
	}
	if !strings.Contains(tb.failed, "never") || !strings.Contains(tb.failed, fmt.Sprintf("attempt %d", n)) {
		t.Fatalf("failure %q does not name what and the last error (attempt %d)", tb.failed, n)
	}
}

func TestUntil(t *testing.T) {
	tb := &recordingTB{TB: t}
	run(tb, func() { Until(tb, "false", 10*time.Millisecond, func() bool { return false }) })
	if !strings.Contains(tb.failed, "false") {
		t.Fatalf("failure %q", tb.failed)
	}
	ok := &recordingTB{TB: t}
	run(ok, func() { Until(ok, "true", 10*time.Millisecond, func() bool { return true }) })
	if ok.failed != "" {
		t.Fatal(ok.failed)
	}
}
