// Package rotation decides, as a pure function of what was observed, the next
// step of a zero-downtime trust-anchor rotation. The phases follow the order
// every peer needs to keep verifying every other peer:
//
//	Publish         bundle := {old, new}
//	AwaitBundle     every proxy trusts both anchors
//	SwitchIssuer    the identity issuer is re-signed by the new anchor
//	AwaitCerts      every proxy's certificate comes from the new issuer
//	Retire          bundle := {new}
//	AwaitRetire     every proxy trusts only the new anchor
//	Promote         the new anchor becomes the active one; rotation recorded
//
// The phase is derived from the observed objects (bundle, issuer, pending
// anchor) on every pass, so a crash at any point resumes where it stopped and
// never generates a second new anchor or drops an anchor still in use.
package rotation

import (
	"fmt"
	"slices"
	"sort"
	"time"
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

// Proxy is what one meshed proxy reported (or failed to report).
type Proxy struct {
	Pod      string // namespace/name
	Workload string // kind/namespace/name of the workload to restart, "" if none
	Anchors  []string
	Issuer   string
	Err      error
}

// Facts is everything a rotation step depends on.
type Facts struct {
	Now time.Time
	// ActiveAnchor signs the issuer at the start of the rotation; NextAnchor is
	// the pending new anchor ("" before it exists).
	ActiveAnchor, NextAnchor string
	// Target is the new anchor recorded in status when the rotation started
	// ("" when unknown): it tells a finished rotation from one not yet begun.
	Target string
	// Bundle is the published set of anchor fingerprints.
	Bundle []string
	// IssuerSignedBy is the fingerprint of the anchor that signed the current
	// issuer, and Issuer the current issuer's own fingerprint.
	IssuerSignedBy, Issuer string
	Proxies                []Proxy
	// PhaseSince is when the current phase was first observed (from status);
	// zero when unknown.
	PhaseSince time.Time
	// ConvergenceTimeout bounds each wait before laggards are restarted.
	ConvergenceTimeout time.Duration
	// AlreadyRestarted lists workloads restarted in this phase (from status).
	AlreadyRestarted []string
	// RestartWave bounds how many workloads one step restarts.
	RestartWave int
}

// Step is the decision for one pass.
type Step struct {
	Phase     Phase
	Action    Action
	Bundle    []string // for ActionPublishBundle
	Converged int
	Total     int
	Lagging   []string // pods not converged, sorted
	Restart   []string // workloads to restart, for ActionRestartLaggards
	Message   string
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
			Message: fmt.Sprintf("publishing bundle {%s, %s}", short(old), short(next))}
	case f.IssuerSignedBy == old:
		return f.await(PhaseAwaitBundle, func(p Proxy) bool { return containsAll(p.Anchors, both) },
			Step{Phase: PhaseSwitchIssuer, Action: ActionSwitchIssuer, Message: "every proxy trusts both anchors; switching the issuer to the new anchor"},
			"trust both anchors")
	case f.IssuerSignedBy == next && contains(f.Bundle, old):
		done := f.await(PhaseAwaitCerts, func(p Proxy) bool { return p.Issuer == f.Issuer },
			Step{Phase: PhaseRetire, Action: ActionPublishBundle, Bundle: onlyNew,
				Message: fmt.Sprintf("every proxy holds a certificate from the new issuer; retiring anchor %s", short(old))},
			"hold a certificate from the new issuer")
		return done
	case f.IssuerSignedBy == next:
		return f.await(PhaseAwaitRetire, func(p Proxy) bool { return sameSet(p.Anchors, onlyNew) },
			Step{Phase: PhasePromote, Action: ActionPromote, Message: "every proxy trusts only the new anchor; rotation complete"},
			"trust only the new anchor")
	}
	return Step{Phase: PhaseSwitchIssuer, Action: ActionSwitchIssuer,
		Message: fmt.Sprintf("issuer signed by an unexpected anchor %s; re-issuing from the new anchor", short(f.IssuerSignedBy))}
}

// await reports progress towards a convergence predicate; once every proxy
// satisfies it the step becomes then. Past the deadline, workloads of
// laggards are restarted a wave at a time.
func (f Facts) await(phase Phase, ok func(Proxy) bool, then Step, goal string) Step {
	var lagging, restart []string
	for _, p := range f.Proxies {
		if p.Err == nil && ok(p) {
			continue
		}
		lagging = append(lagging, p.Pod)
		if p.Workload != "" && !slices.Contains(restart, p.Workload) && !slices.Contains(f.AlreadyRestarted, p.Workload) {
			restart = append(restart, p.Workload)
		}
	}
	sort.Strings(lagging)
	sort.Strings(restart)
	total := len(f.Proxies)
	if len(lagging) == 0 {
		then.Converged, then.Total = total, total
		return then
	}
	s := Step{Phase: phase, Action: ActionWait, Converged: total - len(lagging), Total: total, Lagging: lagging,
		RecheckAfter: recheck,
		Message:      fmt.Sprintf("%d/%d proxies %s", total-len(lagging), total, goal)}
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

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
