package reconcileerr

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestResult(t *testing.T) {
	stalled := fmt.Errorf("wrapped: %w", Stalledf("UnsupportedVersion", "version %q", "9.9.9"))
	cases := []struct {
		name      string
		err       error
		after     time.Duration
		wantErr   bool
		wantAfter time.Duration
	}{
		{"success requeues at the next known time", nil, time.Minute, false, time.Minute},
		{"transient error goes to backoff", errors.New("conflict"), time.Minute, true, 0},
		{"stalled waits for a spec change", stalled, 0, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Result(tc.err, tc.after)
			if (err != nil) != tc.wantErr || res.RequeueAfter != tc.wantAfter {
				t.Fatalf("Result() = %+v, %v", res, err)
			}
		})
	}
	s, ok := AsStalled(stalled)
	if !ok || s.Reason != "UnsupportedVersion" {
		t.Fatalf("AsStalled through wrapping: %v %v", s, ok)
	}
}
