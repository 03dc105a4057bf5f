// Package reconcileerr types the errors of a reconcile so that one function
// decides what happens next: retry with backoff, wait for a spec change, or
// come back at a known time.
package reconcileerr

import (
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Stalled means progress needs a change by the user (a spec edit, a fixed
// Secret); retrying cannot help. Reason is a condition reason.
type Stalled struct {
	Reason string
	Err    error
}

func (e *Stalled) Error() string { return e.Err.Error() }
func (e *Stalled) Unwrap() error { return e.Err }

// Stalledf builds a Stalled error.
func Stalledf(reason, format string, args ...any) error {
	return &Stalled{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// AsStalled returns the Stalled error in err's chain, if any.
func AsStalled(err error) (*Stalled, bool) {
	var s *Stalled
	ok := errors.As(err, &s)
	return s, ok
}

// Result maps the outcome of a reconcile to controller-runtime's answer. A
// transient error is returned for rate-limited backoff (a RequeueAfter beside
// an error would be ignored); a Stalled one is swallowed, because retrying
// cannot help and the watch on the spec brings the next attempt.
func Result(err error, requeueAfter time.Duration) (ctrl.Result, error) {
	if err == nil {
		return ctrl.Result{RequeueAfter: requeueAfter}, nil
	}
	if _, ok := AsStalled(err); ok {
		return ctrl.Result{RequeueAfter: requeueAfter}, nil
	}
	return ctrl.Result{}, err
}
