package opmetrics

import "strings"

// Reconcile error phases (label phase of ReconcileErrors).
const (
	PhaseTrust    = "trust"
	PhaseRelease  = "release"
	PhaseUpgrade  = "upgrade"
	PhaseObserve  = "observe"
	PhaseUnmeshed = "unmeshed"
	PhaseOther    = "other"
)

// errorPrefixes are the prefixes the lifecycle wraps its errors with
// (internal/operator/lifecycle: "trust: …", "observe data plane: …").
var errorPrefixes = []struct{ prefix, phase string }{
	{"trust: ", PhaseTrust},
	{"release: ", PhaseRelease},
	{"upgrade: ", PhaseUpgrade},
	{"observe ", PhaseObserve},
	{"unmeshed pods: ", PhaseUnmeshed},
}

// ErrorPhase names the phase a reconcile error came from, by the prefix the
// lifecycle gives it; anything else is PhaseOther, so the label stays bounded.
func ErrorPhase(err error) string {
	msg := err.Error()
	for _, p := range errorPrefixes {
		if strings.HasPrefix(msg, p.prefix) {
			return p.phase
		}
	}
	return PhaseOther
}
