package rotation

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Phase names a rotation phase as reported in status.
type Phase string

const (
	PhaseGenerate     Phase = "Generate"
	PhasePublish      Phase = "Publish"
	PhaseAwaitBundle  Phase = "AwaitBundle"
	PhaseSwitchIssuer Phase = "SwitchIssuer"
	PhaseAwaitCerts   Phase = "AwaitCertificates"
	PhaseRetire       Phase = "Retire"
	PhaseAwaitRetire  Phase = "AwaitRetire"
	PhasePromote      Phase = "Promote"
)

// Action is what the executor does for a step.
type Action string

const (
	ActionNone            Action = "None"
	ActionGenerateNext    Action = "GenerateNext"
	ActionPublishBundle   Action = "PublishBundle"
	ActionSwitchIssuer    Action = "SwitchIssuer"
	ActionWait            Action = "Wait"
	ActionRestartLaggards Action = "RestartLaggards"
	ActionPromote         Action = "Promote"
)

// Step is the decision for one pass.
type Step struct {
	Phase     Phase
	Action    Action
	Bundle    []string // for ActionPublishBundle
	Converged int
	Total     int
	Lagging   []string // pods not converged, sorted
	// Stuck are the lagging pods with nothing left to try, sorted: no
	// workload can replace them (bare pods, Jobs' pods) or theirs was
	// restarted, and convergenceTimeout has passed since (see stuck).
	Stuck []string
	// Excluded are the pods the user excluded from waiting, sorted.
	Excluded []string
	Restart  []string // workloads to restart, for ActionRestartLaggards
	Message  string
	// RecheckAfter is when to look again while waiting.
	RecheckAfter time.Duration
}

// recheck is how often convergence is polled while waiting.
const recheck = 5 * time.Second

// Next returns the step of a rotation in progress (callers start one by
// providing NextAnchor or asking ActionGenerateNext through Start).
func Next(f Facts) Step {
	old, next := f.ActiveAnchor, f.NextAnchor
	both := sorted(old, next)
	onlyNew := []string{next}
	switch {
	case next == "" && f.Target != "" && f.Target == old:
		// Crashed after promoting: only the bookkeeping is left.
		return Step{Phase: PhasePromote, Action: ActionPromote, Message: "new anchor already active; finishing"}
	case next == "":
		return Step{Phase: PhaseGenerate, Action: ActionGenerateNext, Message: "generating the new trust anchor"}
	case next == old:
		return Step{Phase: PhasePromote, Action: ActionPromote, Message: "new anchor already active; finishing"}
	case f.IssuerSignedBy == old && !sameSet(f.Bundle, both):
		return Step{Phase: PhasePublish, Action: ActionPublishBundle, Bundle: both,
			Message: fmt.Sprintf("publishing bundle {%s, %s}", pki.ShortFingerprint(old), pki.ShortFingerprint(next))}
	case f.IssuerSignedBy == old:
		return f.await(PhaseAwaitBundle, func(p Proxy) bool { return containsAll(p.Anchors, both) },
			Step{Phase: PhaseSwitchIssuer, Action: ActionSwitchIssuer, Message: "every proxy trusts both anchors; switching the issuer to the new anchor"},
			"trust both anchors")
	case f.IssuerSignedBy == next && contains(f.Bundle, old):
		done := f.await(PhaseAwaitCerts, func(p Proxy) bool { return p.Issuer == f.Issuer },
			Step{Phase: PhaseRetire, Action: ActionPublishBundle, Bundle: onlyNew,
				Message: fmt.Sprintf("every proxy holds a certificate from the new issuer; retiring anchor %s", pki.ShortFingerprint(old))},
			"hold a certificate from the new issuer")
		return done
	case f.IssuerSignedBy == next:
		return f.await(PhaseAwaitRetire, func(p Proxy) bool { return sameSet(p.Anchors, onlyNew) },
			Step{Phase: PhasePromote, Action: ActionPromote, Message: "every proxy trusts only the new anchor; rotation complete"},
			"trust only the new anchor")
	}
	return f.unknownIssuer(both)
}

// unknownIssuer is the step when no issuer signed by either anchor exists
// (deleted, unreadable or foreign). Issuing from the new anchor is safe only
// once every proxy trusts it: until then the bundle {old, new} is published
// and awaited, as in the ordinary phases.
func (f Facts) unknownIssuer(both []string) Step {
	what := "no issuer signed by either anchor"
	if f.IssuerSignedBy != "" {
		what = fmt.Sprintf("issuer signed by an unexpected anchor %s", pki.ShortFingerprint(f.IssuerSignedBy))
	}
	switchIssuer := Step{Phase: PhaseSwitchIssuer, Action: ActionSwitchIssuer, Message: what + "; issuing from the new anchor, which every proxy trusts"}
	switch {
	case !contains(f.Bundle, f.ActiveAnchor):
		return switchIssuer // the old anchor is retired: only the new one is trusted
	case !sameSet(f.Bundle, both):
		return Step{Phase: PhasePublish, Action: ActionPublishBundle, Bundle: both,
			Message: fmt.Sprintf("%s; publishing bundle {%s, %s} before issuing from the new anchor", what, pki.ShortFingerprint(f.ActiveAnchor), pki.ShortFingerprint(f.NextAnchor))}
	}
	return f.await(PhaseAwaitBundle, func(p Proxy) bool { return containsAll(p.Anchors, both) }, switchIssuer, "trust both anchors ("+what+")")
}

// await reports progress towards a convergence predicate; once every proxy
// not excluded satisfies it the step becomes then. Past the deadline,
// workloads of laggards are restarted a wave at a time; laggards nothing more
// can be done for are reported as stuck (the rotation keeps waiting for them
// until they converge, are excluded or are deleted).
func (f Facts) await(phase Phase, ok func(Proxy) bool, then Step, goal string) Step {
	var lagging, restart, stuck, excluded []string
	total := 0
	for _, p := range f.Proxies {
		if p.Excluded {
			excluded = append(excluded, p.Pod)
			continue
		}
		total++
		if p.Err == nil && ok(p) {
			continue
		}
		lagging = append(lagging, p.Pod)
		switch {
		case p.Workload == "" || slices.Contains(f.AlreadyRestarted, p.Workload):
			if f.stuck(p) {
				stuck = append(stuck, p.Pod)
			}
		case !slices.Contains(restart, p.Workload):
			restart = append(restart, p.Workload)
		}
	}
	sort.Strings(lagging)
	sort.Strings(restart)
	sort.Strings(stuck)
	sort.Strings(excluded)
	if len(lagging) == 0 {
		then.Converged, then.Total, then.Excluded = total, total, excluded
		return then
	}
	s := Step{Phase: phase, Action: ActionWait, Converged: total - len(lagging), Total: total, Lagging: lagging,
		Stuck: stuck, Excluded: excluded, RecheckAfter: recheck,
		Message: fmt.Sprintf("%d/%d proxies %s", total-len(lagging), total, goal)}
	if len(stuck) > 0 {
		s.Message += fmt.Sprintf("; %d stuck past convergenceTimeout %s (%s): annotate them %s=true or delete them",
			len(stuck), f.ConvergenceTimeout, names(stuck, 5), contract.RotationExcludeAnnotation)
	}
	deadline := f.PhaseSince.Add(f.ConvergenceTimeout)
	if f.PhaseSince.IsZero() || f.Now.Before(deadline) || len(restart) == 0 {
		return s
	}
	wave := max(1, f.RestartWave)
	if len(restart) > wave {
		restart = restart[:wave]
	}
	s.Action, s.Restart = ActionRestartLaggards, restart
	s.Message += fmt.Sprintf("; deadline passed, restarting %v", restart)
	return s
}

// stuck says whether a laggard nothing more can be done for has waited long
// enough to be reported: convergenceTimeout from the phase start for a pod no
// restart replaces (a bare pod, a Job's pod), and convergenceTimeout from
// the later of the deadline and the last restart wave for a pod whose
// workload was restarted (an OnDelete StatefulSet does not replace its pods;
// a blocked admin port stays blocked). So stuck is declared at most
// 2×convergenceTimeout after the phase began, plus the restart waves.
func (f Facts) stuck(p Proxy) bool {
	if f.PhaseSince.IsZero() {
		return false
	}
	deadline := f.PhaseSince.Add(f.ConvergenceTimeout)
	if p.Workload == "" {
		return !f.Now.Before(deadline)
	}
	from := deadline
	if f.LastRestart.After(from) {
		from = f.LastRestart
	}
	return !f.Now.Before(from.Add(f.ConvergenceTimeout))
}

// names lists up to n names, saying how many more there are.
func names(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:n], ", "), len(list)-n)
}

func sorted(fps ...string) []string {
	out := slices.Clone(fps)
	sort.Strings(out)
	return slices.Compact(out)
}

func sameSet(a, b []string) bool { return slices.Equal(sorted(a...), sorted(b...)) }

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
