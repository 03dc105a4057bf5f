package upgrade

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// Phases of status.upgrade.phase.
const (
	PhaseAwaitingApproval = "AwaitingApproval"
	PhaseControlPlane     = "ControlPlane"
	PhaseWave             = "Wave"
	PhaseRollingBack      = "RollingBack"
	// PhasePaused: a gate failed or a deadline passed with onFailure Pause.
	PhasePaused    = "Paused"
	PhaseSucceeded = "Succeeded"
	// PhaseFailed: the upgrade was rolled back, or could not be.
	PhaseFailed = "Failed"
)

// Steps within a phase (status.upgrade.step).
const (
	// StepUpgrade: the control plane is upgraded and becomes ready.
	StepUpgrade = "upgrade"
	// StepRestart: workloads are restarted onto the wanted proxy.
	StepRestart = "restart"
	// StepBake: traffic is observed before a verdict.
	StepBake = "bake"
	// StepControlPlane: during a rollback, the control plane returns to the previous version.
	StepControlPlane = "control-plane"
)

// Results of status.upgradeHistory records.
const (
	ResultSucceeded  = "Succeeded"
	ResultRolledBack = "RolledBack"
	ResultFailed     = "Failed"
)

// Condition-style reasons of a Step (the verdict reasons are in gate.go).
const (
	ReasonUpgrading         = "Upgrading"
	ReasonAwaitingApproval  = "AwaitingApproval"
	ReasonUpgradePaused     = "UpgradePaused"
	ReasonFailedPaused      = "UpgradeFailedPaused"
	ReasonRollingBack       = "RollingBack"
	ReasonRolledBack        = "RolledBack"
	ReasonUpgradeFailed     = "UpgradeFailed"
	ReasonUpgradeSucceeded  = "UpgradeSucceeded"
	ReasonUpgradeInProgress = "UpgradeInProgress"
	ReasonInvalidUpgrade    = "InvalidUpgradeSpec"
	// Verdict reasons the machine adds to the gate's.
	ReasonDeadlineExceeded   = "DeadlineExceeded"
	ReasonControlPlaneFailed = "ControlPlaneUpgradeFailed"
	ReasonRollbackRequested  = "RollbackRequested"
)

// GateControlPlane names the control-plane gate; waves are "wave/<name>".
const GateControlPlane = "control-plane"

// Action is what the executor does for a Step.
type Action string

const (
	// ActionNone: no upgrade to carry out.
	ActionNone Action = "None"
	// ActionWait: something is converging; look again after RecheckAfter.
	ActionWait Action = "Wait"
	// ActionRefuse: the requested version change is refused (Reason, Message); nothing changes.
	ActionRefuse Action = "Refuse"
	// ActionAwaitApproval: the plan is published; a Manual upgrade waits for approval.
	ActionAwaitApproval Action = "AwaitApproval"
	// ActionPaused: spec.paused or spec.upgrade.paused halts the upgrade between steps.
	ActionPaused Action = "Paused"
	// ActionBegin: the upgrade and its plan are recorded (status only).
	ActionBegin Action = "Begin"
	// ActionUpgradeControlPlane: bring the control plane to ControlPlaneVersion.
	ActionUpgradeControlPlane Action = "UpgradeControlPlane"
	// ActionRestartWorkloads: Restart each of Restart with RestartAt, and
	// evict each pod of Evict.
	ActionRestartWorkloads Action = "RestartWorkloads"
	// ActionStartBake: the bake window starts (status only).
	ActionStartBake Action = "StartBake"
	// ActionAdvance: a gate passed (Verdict) or a rollback step finished; on to the next step (status only).
	ActionAdvance Action = "Advance"
	// ActionComplete: the upgrade succeeded and is recorded in History.
	ActionComplete Action = "Complete"
	// ActionPause: a gate failed or a deadline passed and onFailure is Pause.
	ActionPause Action = "Pause"
	// ActionBeginRollback: a gate failed, a deadline passed or the user asked to go back (status only).
	ActionBeginRollback Action = "BeginRollback"
	// ActionRollbackControlPlane: bring the control plane back to ControlPlaneVersion.
	ActionRollbackControlPlane Action = "RollbackControlPlane"
	// ActionRolledBack: the rollback finished and is recorded in History.
	ActionRolledBack Action = "RolledBack"
	// ActionFail: the rollback could not finish; the failure is recorded in History.
	ActionFail Action = "Fail"
)

// Step is the decision of one pass. The executor performs Action, then writes
// Upgrade and History into status (in that order: a crash in between repeats
// an idempotent action), and looks again after RecheckAfter (0: on the next
// watch event only).
type Step struct {
	Action Action
	// Reason and Message describe the upgrade for conditions and events.
	Reason  string
	Message string
	// ControlPlaneVersion is the mesh version the control plane must run now,
	// and ControlPlaneRedirect the redirect mode its injector must use.
	ControlPlaneVersion  string
	ControlPlaneRedirect meshv1.RedirectMode
	// Restart lists workload keys to restart with RestartAt (ActionRestartWorkloads).
	Restart   []string
	RestartAt time.Time
	// Evict lists pods ("namespace/name") a restart already replaced that
	// came up on the wrong proxy or none (the injector failed open or an old
	// one answered): the Eviction API, which honours PodDisruptionBudgets,
	// lets their controller create them again.
	Evict []string
	// Upgrade and History are the new status.upgrade and status.upgradeHistory.
	Upgrade *meshv1.UpgradeStatus
	History []meshv1.UpgradeRecord
	// Verdict is the gate verdict reached in this pass, if any (for an event).
	Verdict *meshv1.GateVerdict
	// NeedReading asks for a gate Reading of the ReadScope workloads (Prometheus:
	// over ReadWindow ending now); gather it and call Next again.
	NeedReading bool
	ReadScope   []string
	ReadWindow  time.Duration
	// Blocked explains workloads a PodDisruptionBudget keeps from restarting.
	Blocked      []string
	RecheckAfter time.Duration
}

const (
	// recheck is how often convergence is polled while waiting.
	recheck = 5 * time.Second
	// soon follows a status-only transition.
	soon = time.Second
	// defaultStepDeadline matches the CRD default.
	defaultStepDeadline = 15 * time.Minute
)

// Next decides the next step of the upgrade from the observed facts.
func Next(f Facts) Step {
	m := &machine{Facts: f, up: f.Spec.Upgrade}
	if m.up == nil {
		m.up = &meshv1.UpgradeSpec{}
	}
	st := f.Upgrade.DeepCopy()
	th, err := ParseThresholds(m.up.Gate)
	if err != nil {
		return m.refuse(st, ReasonInvalidUpgrade, "spec.upgrade.gate: "+err.Error())
	}
	m.th = th
	if st != nil && active(st.Phase) {
		return m.progress(st)
	}
	return m.idle(st)
}

type machine struct {
	Facts
	up *meshv1.UpgradeSpec
	th Thresholds
}

func active(phase string) bool {
	switch phase {
	case PhaseControlPlane, PhaseWave, PhaseRollingBack, PhasePaused:
		return true
	}
	return false
}

// InProgress reports whether an upgrade is under way (its plan is being
// carried out, or it is paused on a failure).
func InProgress(st *meshv1.UpgradeStatus) bool { return st != nil && active(st.Phase) }

// GatesControlPlane reports whether the machine judges control-plane
// readiness in this phase (the control-plane step and the rollback): only
// then are the control plane's live probes worth their cost.
func GatesControlPlane(st *meshv1.UpgradeStatus) bool {
	return st != nil && (st.Phase == PhaseControlPlane || st.Phase == PhaseRollingBack)
}

// step fills the fields every Step carries. The control-plane version follows
// the status as read, never the one being written, so a transition is
// persisted before anything acts on it.
func (m *machine) step(st *meshv1.UpgradeStatus, action Action, reason, message string) Step {
	if st != nil && active(st.Phase) {
		st.Message = message
	}
	return Step{Action: action, Reason: reason, Message: message, Upgrade: st, History: m.History,
		ControlPlaneVersion: m.desiredControlPlane(), ControlPlaneRedirect: m.desiredRedirect()}
}

func (m *machine) desiredControlPlane() string {
	st, observed := m.Upgrade, m.ControlPlane.Version
	if st == nil {
		if observed == "" {
			return m.Spec.Version
		}
		return observed
	}
	switch st.Phase {
	case PhaseControlPlane, PhaseWave, PhaseSucceeded:
		return st.To
	case PhaseRollingBack:
		return st.From
	case PhasePaused: // waiting for a decision: hold whatever runs
		if observed == "" {
			return st.To
		}
		return observed
	}
	if observed == "" {
		return st.From
	}
	return observed
}

// idle handles the absence of an upgrade in progress: nothing to do, a bump
// to refuse, a plan awaiting approval, or the start of an upgrade.
func (m *machine) idle(st *meshv1.UpgradeStatus) Step {
	cp, target := m.ControlPlane.Version, m.Spec.Version
	if cp == "" {
		return m.step(st, ActionNone, "", fmt.Sprintf("no control plane deployed yet; installing %s", target))
	}
	applied, wantRedirect := m.appliedRedirect(), m.specRedirect()
	switching := applied != wantRedirect
	if target == cp && !switching {
		// Back at the installed version (and mode): a failed upgrade is
		// acknowledged, a pending one withdrawn.
		if st != nil && (st.Phase == PhaseAwaitingApproval || (st.Phase == PhaseFailed && st.From == cp &&
			(st.To != cp || (st.RedirectTo != "" && st.RedirectFrom == applied)))) {
			st = nil
		}
		return m.step(st, ActionNone, "", fmt.Sprintf("mesh version %s is installed", cp))
	}
	if target == cp && st != nil && st.Phase == PhaseFailed && st.From == cp && st.To == cp &&
		st.RedirectFrom == applied && st.RedirectTo == wantRedirect {
		return m.step(st, ActionNone, ReasonUpgradeFailed, fmt.Sprintf(
			"the redirect switch to %s failed and was rolled back; set spec.dataPlane.redirect to %s to acknowledge, then to %s to retry",
			wantRedirect, applied, wantRedirect))
	}
	if st != nil && st.Phase == PhaseFailed && st.To == target && st.From == cp && target != cp {
		return m.step(st, ActionNone, ReasonUpgradeFailed, fmt.Sprintf(
			"the upgrade to %s failed and was rolled back; set spec.version to %s to acknowledge, then to %s to retry",
			target, cp, target))
	}
	if st != nil && st.Phase == PhaseAwaitingApproval && (st.To != target || st.RedirectTo != redirectChange(switching, wantRedirect)) {
		st = nil // a plan for another target is stale
	}
	// Going back to the recorded previous version after the upgrade finished
	// (succeeded, or failed with the new control plane still in place) is a
	// staged move like any other, not a refused downgrade.
	returning := st != nil && (st.Phase == PhaseSucceeded || st.Phase == PhaseFailed) && st.From == target && st.To == cp
	var err error
	switch {
	case target == cp: // a redirect switch alone: no version skew to check
	case returning:
		if !slices.Contains(m.Supported, target) {
			err = CheckSkew("", target, m.Supported)
		}
	default:
		err = CheckSkew(cp, target, m.Supported)
	}
	if err != nil {
		reason := ReasonInvalidUpgrade
		if se, ok := err.(*SkewError); ok {
			reason = se.Reason
		}
		return m.refuse(st, reason, err.Error())
	}
	plan, err := Plan(m.Workloads, m.NamespaceLabels, m.up.Waves)
	if err != nil {
		return m.refuse(st, ReasonInvalidUpgrade, "spec.upgrade.waves: "+err.Error())
	}
	summary := fmt.Sprintf("control plane, then %s", describePlan(plan))
	var redirectFrom meshv1.RedirectMode
	if switching {
		redirectFrom = applied
	}
	redirectTo := redirectChange(switching, wantRedirect)
	if m.up.Approval == meshv1.ApprovalManual && m.up.ApprovedVersion != target {
		next := &meshv1.UpgradeStatus{From: cp, To: target, RedirectFrom: redirectFrom, RedirectTo: redirectTo,
			Phase: PhaseAwaitingApproval, Plan: plan, CurrentWave: -1, StartedAt: stamp(m.Now), StepStartedAt: stamp(m.Now)}
		if st != nil && st.Phase == PhaseAwaitingApproval && st.From == cp && st.To == target {
			next.StartedAt, next.StepStartedAt = st.StartedAt, st.StepStartedAt
		}
		msg := fmt.Sprintf("%s planned (%s); set spec.upgrade.approvedVersion to %s to start", describeChange(next), summary, target)
		next.Message = msg
		return m.step(next, ActionAwaitApproval, ReasonAwaitingApproval, msg)
	}
	next := &meshv1.UpgradeStatus{From: cp, To: target, RedirectFrom: redirectFrom, RedirectTo: redirectTo,
		Phase: PhaseControlPlane, Step: StepUpgrade, Plan: plan, CurrentWave: -1, StartedAt: stamp(m.Now), StepStartedAt: stamp(m.Now)}
	msg := fmt.Sprintf("upgrading from %s to %s: %s", cp, target, summary)
	if switching {
		msg = fmt.Sprintf("%s: %s", describeChange(next), summary)
	}
	if m.th.MaxLatencyP99Ratio > 0 {
		if m.Reading.empty() {
			return m.needReading(st, keys(m.Workloads), m.th.BakeWindow, "measuring the pre-upgrade baseline")
		}
		if b, err := m.measureNow(nil); err == nil {
			g := MeasurementStatus(b)
			next.Baseline = &g
		} else {
			msg += fmt.Sprintf("; no baseline (%v): the p99 ratio is not checked", err)
		}
	}
	return m.step(next, ActionBegin, ReasonUpgrading, msg).after(soon)
}

// progress carries an upgrade in progress one step further.
func (m *machine) progress(st *meshv1.UpgradeStatus) Step {
	if st.Phase != PhaseRollingBack {
		switch target := m.Spec.Version; {
		case target == st.From && target != st.To:
			gv := m.verdict(st, ReasonRollbackRequested, fmt.Sprintf("spec.version was set back to %s", st.From))
			return m.beginRollback(st, gv)
		case target != st.To:
			return m.refuse(st, ReasonUpgradeInProgress, fmt.Sprintf(
				"spec.version %s refused: the upgrade from %s to %s is in progress; set spec.version to %s to continue or to %s to roll back",
				target, st.From, st.To, st.To, st.From))
		}
		switch want := m.specRedirect(); {
		case want == m.redirectTarget(st):
		case st.RedirectTo != "" && want == st.RedirectFrom:
			gv := m.verdict(st, ReasonRollbackRequested, fmt.Sprintf("spec.dataPlane.redirect was set back to %s", st.RedirectFrom))
			return m.beginRollback(st, gv)
		default:
			return m.refuse(st, ReasonUpgradeInProgress, fmt.Sprintf(
				"spec.dataPlane.redirect %s refused: the %s is in progress; set it back to %s, or finish or roll back first",
				want, describeChange(st), m.redirectTarget(st)))
		}
	}
	if st.Phase == PhasePaused {
		if m.onFailure() == meshv1.OnFailureRollback {
			gv := m.verdict(st, ReasonRollbackRequested, "spec.upgrade.onFailure was set to Rollback")
			if st.LastVerdict != nil {
				gv = *st.LastVerdict
			}
			return m.beginRollback(st, gv)
		}
		why := "it failed"
		if v := st.LastVerdict; v != nil {
			why = fmt.Sprintf("%s failed (%s: %s)", v.Gate, v.Reason, v.Message)
		}
		return m.step(st, ActionPaused, ReasonFailedPaused, fmt.Sprintf(
			"upgrade to %s paused because %s; set spec.version to %s or spec.upgrade.onFailure to Rollback to roll back",
			st.To, why, st.From))
	}
	if m.Spec.Paused || m.up.Paused {
		// The step clock restarts on resume: a pause does not eat the deadline.
		st.StepStartedAt = metav1.Time{}
		field := "spec.upgrade.paused"
		if m.Spec.Paused {
			field = "spec.paused"
		}
		s := m.step(st, ActionPaused, ReasonUpgradePaused, fmt.Sprintf("upgrade to %s paused by %s before %s", st.To, field, describeStep(st)))
		if observed := m.ControlPlane.Version; observed != "" {
			s.ControlPlaneVersion = observed // halted: the control plane does not move either
		}
		return s
	}
	if st.StepStartedAt.IsZero() {
		st.StepStartedAt = stamp(m.Now)
	}
	switch st.Phase {
	case PhaseControlPlane:
		return m.controlPlaneStep(st)
	case PhaseWave:
		return m.waveStep(st)
	}
	return m.rollbackStep(st)
}

func (m *machine) controlPlaneStep(st *meshv1.UpgradeStatus) Step {
	cp := m.ControlPlane
	ready := func() (bool, string) {
		if cp.Version != st.To || !cp.Settled || !m.redirectAt(st.RedirectTo) || !cp.Ready {
			return false, fmt.Sprintf("waiting for the control plane at %s to be ready: %s", st.To, orUnknown(cp.Problem))
		}
		return true, ""
	}
	if st.Step == StepBake {
		return m.bake(st, GateControlPlane, keys(m.Workloads), ready)
	}
	if cp.Version != st.To || !cp.Settled || !m.redirectAt(st.RedirectTo) {
		if cp.Failed {
			return m.fail(st, m.verdict(st, ReasonControlPlaneFailed, fmt.Sprintf("the control-plane upgrade to %s failed: %s", st.To, orUnknown(cp.Problem))))
		}
		what := st.To
		if st.RedirectTo != "" {
			what = fmt.Sprintf("%s with redirect %s", st.To, st.RedirectTo)
		}
		s := m.wait(st, fmt.Sprintf("upgrading the control plane to %s", what), recheck)
		if s.Action == ActionWait {
			s.Action = ActionUpgradeControlPlane
		}
		return s
	}
	if ok, why := ready(); !ok {
		return m.wait(st, why, recheck)
	}
	return m.startBake(st, GateControlPlane, keys(m.Workloads))
}

func (m *machine) waveStep(st *meshv1.UpgradeStatus) Step {
	if st.CurrentWave < 0 || int(st.CurrentWave) >= len(st.Plan) {
		return m.complete(st, nil)
	}
	wave := &st.Plan[st.CurrentWave]
	gate := "wave/" + wave.Name
	toProxy := m.proxy(st.To)
	onTarget := target{ok: func(p Pod) bool { return p.ProxyVersion == toProxy && onRedirect(p, st.RedirectTo) }, want: "on proxy " + toProxy}
	if st.RedirectTo != "" {
		onTarget.want += " with redirect " + string(st.RedirectTo)
	}
	if st.Step == StepBake {
		return m.bake(st, gate, wave.Workloads, func() (bool, string) { return m.allSettled(wave.Workloads, onTarget) })
	}
	r := m.restarts(wave, workload.RestartStamp(st.StartedAt.Time), onTarget)
	if r.done {
		return m.startBake(st, gate, wave.Workloads)
	}
	return m.restartStep(st, r, st.StartedAt.Time, ReasonUpgrading,
		fmt.Sprintf("wave %s (%d/%d): %s", wave.Name, st.CurrentWave+1, len(st.Plan), r.message))
}

// restartStep restarts the next batch, which restarts the step clock: the
// deadline bounds each batch (and the bake after the last one), so a large
// wave is not failed for its size. Without a new batch the step waits, re-issuing
// restarts that may have been lost, within the deadline.
func (m *machine) restartStep(st *meshv1.UpgradeStatus, r restartResult, at time.Time, reason, msg string) Step {
	var s Step
	if r.newBatch {
		st.StepStartedAt = stamp(m.Now)
		s = m.step(st, ActionRestartWorkloads, reason, msg).after(recheck)
	} else {
		s = m.wait(st, msg, recheck)
	}
	if s.Action == ActionWait || s.Action == ActionRestartWorkloads {
		s.Blocked = r.blocked
		if len(r.restart) > 0 || len(r.evict) > 0 {
			s.Action, s.Restart, s.RestartAt, s.Evict = ActionRestartWorkloads, r.restart, at, r.evict
		}
	}
	return s
}

func (m *machine) rollbackStep(st *meshv1.UpgradeStatus) Step {
	cp := m.ControlPlane
	toProxy, fromProxy := m.proxy(st.To), m.proxy(st.From)
	last := len(st.Plan) - 1
	if st.Step != StepRestart || last < 0 || st.Plan[last].Name != RollbackWave {
		if cp.Version != st.From || !cp.Settled || !m.redirectAt(st.RedirectFrom) {
			if cp.Failed {
				return m.giveUp(st, fmt.Sprintf("rolling the control plane back to %s failed: %s", st.From, orUnknown(cp.Problem)))
			}
			s := m.wait(st, fmt.Sprintf("rolling the control plane back to %s", st.From), recheck)
			if s.Action == ActionWait {
				s.Action = ActionRollbackControlPlane
			}
			return s
		}
		if !cp.Ready {
			return m.wait(st, fmt.Sprintf("waiting for the control plane at %s to be ready: %s", st.From, orUnknown(cp.Problem)), recheck)
		}
		var back []string
		for _, w := range m.Workloads {
			if m.movedOn(w, st, toProxy, fromProxy) {
				back = append(back, w.Key())
			}
		}
		st.Plan = append(st.Plan, meshv1.PlannedWave{Name: RollbackWave, Workloads: back})
		st.Step, st.StepStartedAt = StepRestart, stamp(m.Now)
		return m.step(st, ActionAdvance, ReasonRollingBack, fmt.Sprintf(
			"control plane back at %s; restarting %d workloads back to proxy %s", st.From, len(back), fromProxy)).after(soon)
	}
	wave := &st.Plan[last]
	if toProxy != fromProxy || st.RedirectTo != "" {
		for _, w := range m.Workloads { // workloads that picked up the new proxy or mode since the list was made
			if m.movedOn(w, st, toProxy, fromProxy) && !slices.Contains(wave.Workloads, w.Key()) {
				wave.Workloads = append(wave.Workloads, w.Key())
			}
		}
		sort.Strings(wave.Workloads)
	}
	// Back means off the new proxy (a workload may have run yet another
	// version before), but meshed; and in a redirect switch, on the old mode.
	back := target{ok: func(p Pod) bool { return p.ProxyVersion != toProxy && p.ProxyVersion != "" },
		want: "meshed off proxy " + toProxy}
	if st.RedirectTo != "" {
		back = target{ok: func(p Pod) bool {
			return p.ProxyVersion != "" && (toProxy == fromProxy || p.ProxyVersion != toProxy) && p.Redirect == st.RedirectFrom
		}, want: "meshed with redirect " + string(st.RedirectFrom)}
		if toProxy != fromProxy {
			back.want += " off proxy " + toProxy
		}
	}
	at := rollbackStamp(st)
	r := m.restarts(wave, workload.RestartStamp(at), back)
	if !r.done {
		return m.restartStep(st, r, at, ReasonRollingBack, fmt.Sprintf("rolling back to %s: %s", st.From, r.message))
	}
	st.Phase, st.Step = PhaseFailed, ""
	reason := "rolled back"
	if v := st.LastVerdict; v != nil {
		reason = fmt.Sprintf("%s: %s", v.Reason, v.Message)
	}
	msg := fmt.Sprintf("upgrade to %s rolled back to %s: %s", st.To, st.From, reason)
	if st.RedirectTo != "" {
		msg = fmt.Sprintf("%s rolled back to %s at %s: %s", describeChange(st), st.RedirectFrom, st.From, reason)
	}
	s := m.step(st, ActionRolledBack, ReasonRolledBack, msg)
	st.Message = s.Message
	s.History = m.record(st, ResultRolledBack, reason)
	return s
}

// rollbackStamp is the restart stamp of a rollback: the time it began (the
// failing verdict's), distinct from the upgrade's own stamp.
func rollbackStamp(st *meshv1.UpgradeStatus) time.Time {
	at := st.StartedAt.Add(time.Second)
	if v := st.LastVerdict; v != nil && v.At.After(st.StartedAt.Time) {
		at = v.At.Time
	}
	return at.UTC().Truncate(time.Second)
}

// target is what a restarted workload's pods must run, and its description.
type target struct {
	ok   func(Pod) bool
	want string
}

func (t target) settled(w Workload) (bool, string) { return w.Settled(t.ok, t.want) }

type restartResult struct {
	// restart lists the new batch and the re-issued restarts; newBatch says
	// whether the batch is not empty.
	newBatch bool
	restart  []string
	// evict lists pods of restarted workloads that came up off target.
	evict   []string
	blocked []string
	done    bool
	message string
}

// restarts advances one wave's restarts: workloads already settled count as
// restarted, restarted ones not settled are in flight (re-issued while none of
// their pods carries the stamp, in case a crash lost the patch; a pod that
// carries it yet runs off target is evicted, since restarting again would not
// replace it), and the next batch fills the free slots, skipping workloads a
// PDB protects.
func (m *machine) restarts(wave *meshv1.PlannedWave, stampValue string, t target) restartResult {
	byKey := map[string]Workload{}
	for _, w := range m.Workloads {
		byKey[w.Key()] = w
	}
	restarted := map[string]bool{}
	for _, k := range wave.Restarted {
		restarted[k] = true
	}
	var r restartResult
	var pending, waiting, reissue []string
	for _, key := range wave.Workloads {
		w, exists := byKey[key]
		if !exists { // gone, or no meshed pod left: nothing to restart
			restarted[key] = true
			continue
		}
		ok, why := t.settled(w)
		switch {
		case !restarted[key] && ok:
			restarted[key] = true
		case !restarted[key]:
			if allowed, reason := RestartAllowed(w, m.PDBs); !allowed {
				r.blocked = append(r.blocked, key+": "+reason)
				continue
			}
			pending = append(pending, key)
		case !ok:
			waiting = append(waiting, why)
			if !w.Stamped(stampValue) {
				reissue = append(reissue, key)
			}
			r.evict = append(r.evict, offTarget(w, stampValue, t)...)
		}
	}
	batch := Batch(meshv1.PlannedWave{Workloads: pending}, m.maxUnavailable(), len(waiting))
	for _, k := range batch {
		restarted[k] = true
	}
	wave.Restarted = nil
	for _, k := range wave.Workloads {
		if restarted[k] {
			wave.Restarted = append(wave.Restarted, k)
		}
	}
	r.newBatch = len(batch) > 0
	r.restart = append(slices.Clone(batch), reissue...)
	sort.Strings(r.restart)
	r.restart = slices.Compact(r.restart)
	r.done = len(pending) == 0 && len(r.blocked) == 0 && len(waiting) == 0
	parts := []string{fmt.Sprintf("%d/%d workloads restarted", len(wave.Restarted), len(wave.Workloads))}
	if len(batch) > 0 {
		parts = append(parts, "restarting "+strings.Join(batch, ", "))
	}
	if len(waiting) > 0 {
		parts = append(parts, "waiting for "+strings.Join(waiting, "; "))
	}
	if len(r.evict) > 0 {
		parts = append(parts, "evicting pods off target "+strings.Join(r.evict, ", "))
	}
	if len(r.blocked) > 0 {
		parts = append(parts, "blocked: "+strings.Join(r.blocked, "; "))
	}
	r.message = strings.Join(parts, "; ")
	return r
}

// offTarget lists the live pods of w ("namespace/name") that were created by
// the restart (they carry its stamp) but run off target.
func offTarget(w Workload, stampValue string, t target) []string {
	var out []string
	for _, p := range w.Pods {
		if !p.Terminating && p.RestartedAt == stampValue && !t.ok(p) {
			out = append(out, w.Namespace+"/"+p.Name)
		}
	}
	return out
}

func (m *machine) allSettled(workloads []string, t target) (bool, string) {
	for _, w := range m.Workloads {
		if !slices.Contains(workloads, w.Key()) {
			continue
		}
		if ok, why := t.settled(w); !ok {
			return false, "waiting for " + why
		}
	}
	return true, ""
}

// startBake records the counters the bake window starts from.
func (m *machine) startBake(st *meshv1.UpgradeStatus, gate string, scope []string) Step {
	start := meshv1.TrafficCounters{At: stamp(m.Now)}
	if m.th.Source == meshv1.GateSourceProxies {
		switch {
		case m.Reading.empty():
			return m.needReading(st, scope, m.th.BakeWindow, "reading the counters a bake window starts from")
		case m.Reading.Err != nil || m.Reading.Counters == nil:
			return m.wait(st, fmt.Sprintf("%s: cannot read the proxies' counters: %v", gate, m.Reading.Err), recheck)
		}
		start = CountersFrom(*m.Reading.Counters, m.Now)
	}
	st.Step, st.BakeStart = StepBake, &start
	return m.step(st, ActionStartBake, ReasonUpgrading, fmt.Sprintf("%s: observing traffic for %s", gate, m.th.BakeWindow)).after(m.th.BakeWindow)
}

// bake waits out the bake window, then judges the gate.
func (m *machine) bake(st *meshv1.UpgradeStatus, gate string, scope []string, structural func() (bool, string)) Step {
	if st.BakeStart == nil {
		return m.startBake(st, gate, scope)
	}
	until := st.BakeStart.At.Add(m.th.BakeWindow)
	if m.Now.Before(until) {
		return m.wait(st, fmt.Sprintf("%s: observing traffic until %s", gate, until.UTC().Format(time.RFC3339)), until.Sub(m.Now))
	}
	if ok, why := structural(); !ok {
		return m.wait(st, gate+": "+why, recheck)
	}
	if m.Reading.empty() {
		return m.needReading(st, scope, m.Now.Sub(st.BakeStart.At.Time), gate+": reading the bake window's traffic")
	}
	meas, err := m.measureNow(st.BakeStart)
	if err != nil {
		return m.wait(st, fmt.Sprintf("%s: cannot read gate metrics: %v", gate, err), recheck)
	}
	v := Judge(m.th, meas, m.baseline(st))
	gv := v.Status(gate, m.Now)
	if v.Passed {
		return m.advance(st, gv)
	}
	return m.fail(st, gv)
}

// measureNow turns the reading into a measurement: for the proxies, the
// counters since start (or since the proxies started when start is nil).
func (m *machine) measureNow(start *meshv1.TrafficCounters) (Measurement, error) {
	r := m.Reading
	if r.Err != nil {
		return Measurement{}, r.Err
	}
	if m.th.Source == meshv1.GateSourcePrometheus {
		if r.Window == nil {
			return Measurement{}, fmt.Errorf("no Prometheus measurement")
		}
		return *r.Window, nil
	}
	if r.Counters == nil {
		return Measurement{}, fmt.Errorf("no proxy counters")
	}
	t := *r.Counters
	if start != nil {
		t = t.Since(TrafficFrom(*start))
	}
	return Measure(t), nil
}

func (m *machine) baseline(st *meshv1.UpgradeStatus) *Measurement {
	if st.Baseline == nil {
		return nil
	}
	b, err := MeasurementFromStatus(*st.Baseline)
	if err != nil {
		return nil
	}
	return &b
}

// advance moves past a passed gate: the next wave, or completion.
func (m *machine) advance(st *meshv1.UpgradeStatus, gv meshv1.GateVerdict) Step {
	st.LastVerdict, st.BakeStart = &gv, nil
	next := int(st.CurrentWave) + 1
	if next >= len(st.Plan) {
		return m.complete(st, &gv)
	}
	st.Phase, st.CurrentWave, st.Step, st.StepStartedAt = PhaseWave, int32(next), StepRestart, stamp(m.Now)
	s := m.step(st, ActionAdvance, ReasonUpgrading, fmt.Sprintf("%s passed (%s); starting wave %s (%d/%d)",
		gv.Gate, gv.Reason, st.Plan[next].Name, next+1, len(st.Plan)))
	s.Verdict = &gv
	return s.after(soon)
}

func (m *machine) complete(st *meshv1.UpgradeStatus, gv *meshv1.GateVerdict) Step {
	st.Phase, st.Step, st.BakeStart = PhaseSucceeded, "", nil
	st.Message = fmt.Sprintf("upgraded from %s to %s", st.From, st.To)
	if st.RedirectTo != "" {
		st.Message = describeChange(st) + " done"
	}
	s := m.step(st, ActionComplete, ReasonUpgradeSucceeded, st.Message)
	s.Verdict = gv
	s.History = m.record(st, ResultSucceeded, "")
	return s
}

// fail handles a failed gate or a passed deadline per spec.upgrade.onFailure.
func (m *machine) fail(st *meshv1.UpgradeStatus, gv meshv1.GateVerdict) Step {
	if m.onFailure() == meshv1.OnFailurePause {
		st.Phase, st.LastVerdict, st.BakeStart = PhasePaused, &gv, nil
		s := m.step(st, ActionPause, ReasonFailedPaused, fmt.Sprintf(
			"%s failed (%s: %s); paused: set spec.version to %s or spec.upgrade.onFailure to Rollback to roll back",
			gv.Gate, gv.Reason, gv.Message, st.From))
		s.Verdict = &gv
		return s
	}
	return m.beginRollback(st, gv)
}

func (m *machine) beginRollback(st *meshv1.UpgradeStatus, gv meshv1.GateVerdict) Step {
	st.Phase, st.Step, st.StepStartedAt, st.BakeStart, st.LastVerdict = PhaseRollingBack, StepControlPlane, stamp(m.Now), nil, &gv
	s := m.step(st, ActionBeginRollback, ReasonRollingBack, fmt.Sprintf("rolling back to %s: %s failed (%s: %s)",
		st.From, gv.Gate, gv.Reason, gv.Message))
	s.Verdict = &gv
	return s.after(soon)
}

// giveUp ends a rollback that cannot finish.
func (m *machine) giveUp(st *meshv1.UpgradeStatus, why string) Step {
	st.Phase, st.Step = PhaseFailed, ""
	s := m.step(st, ActionFail, ReasonUpgradeFailed, fmt.Sprintf("upgrade to %s failed and the rollback to %s did not finish: %s", st.To, st.From, why))
	st.Message = s.Message
	s.History = m.record(st, ResultFailed, why)
	return s
}

// wait reports a step still converging, or fails it past its deadline.
func (m *machine) wait(st *meshv1.UpgradeStatus, msg string, after time.Duration) Step {
	deadline := st.StepStartedAt.Add(m.stepDeadline())
	if !m.Now.Before(deadline) {
		why := fmt.Sprintf("%s did not finish within %s: %s", describeStep(st), m.stepDeadline(), msg)
		if st.Phase == PhaseRollingBack {
			return m.giveUp(st, why)
		}
		return m.fail(st, m.verdict(st, ReasonDeadlineExceeded, why))
	}
	reason := ReasonUpgrading
	if st.Phase == PhaseRollingBack {
		reason = ReasonRollingBack
	}
	return m.step(st, ActionWait, reason, msg).after(min(after, deadline.Sub(m.Now)))
}

func (m *machine) needReading(st *meshv1.UpgradeStatus, scope []string, window time.Duration, msg string) Step {
	s := m.step(st, ActionWait, ReasonUpgrading, msg)
	s.NeedReading, s.ReadScope, s.ReadWindow, s.RecheckAfter = true, scope, window, soon
	return s
}

func (m *machine) refuse(st *meshv1.UpgradeStatus, reason, msg string) Step {
	return m.step(st, ActionRefuse, reason, msg)
}

// verdict is a verdict the machine reaches itself (deadline, failed control
// plane, requested rollback), with the gate of the current step.
func (m *machine) verdict(st *meshv1.UpgradeStatus, reason, msg string) meshv1.GateVerdict {
	gate := GateControlPlane
	if st.Phase == PhaseWave && st.CurrentWave >= 0 && int(st.CurrentWave) < len(st.Plan) {
		gate = "wave/" + st.Plan[st.CurrentWave].Name
	}
	return meshv1.GateVerdict{Gate: gate, Passed: false, Reason: reason, Message: msg, At: stamp(m.Now)}
}

// record prepends a finished upgrade to the bounded history, once.
func (m *machine) record(st *meshv1.UpgradeStatus, result, reason string) []meshv1.UpgradeRecord {
	rec := meshv1.UpgradeRecord{From: st.From, To: st.To, RedirectFrom: st.RedirectFrom, RedirectTo: st.RedirectTo,
		StartedAt: st.StartedAt, FinishedAt: stamp(m.Now), Result: result, Reason: reason}
	if h := m.History; len(h) > 0 && h[0].From == rec.From && h[0].To == rec.To && h[0].StartedAt.Equal(&rec.StartedAt) {
		return h
	}
	out := append([]meshv1.UpgradeRecord{rec}, m.History...)
	if len(out) > meshv1.MaxUpgradeHistory {
		out = out[:meshv1.MaxUpgradeHistory]
	}
	return out
}

func (m *machine) proxy(meshVersion string) string {
	if p, ok := m.ProxyVersions[meshVersion]; ok {
		return p
	}
	return meshVersion
}

func (m *machine) onFailure() string {
	if m.up.OnFailure == meshv1.OnFailurePause {
		return meshv1.OnFailurePause
	}
	return meshv1.OnFailureRollback
}

func (m *machine) maxUnavailable() int {
	if m.up.MaxUnavailable != nil && *m.up.MaxUnavailable > 0 {
		return int(*m.up.MaxUnavailable)
	}
	return 1
}

func (m *machine) stepDeadline() time.Duration {
	if m.up.StepDeadline != nil && m.up.StepDeadline.Duration > 0 {
		return m.up.StepDeadline.Duration
	}
	return defaultStepDeadline
}

func (s Step) after(d time.Duration) Step {
	s.RecheckAfter = d
	return s
}

func describeStep(st *meshv1.UpgradeStatus) string {
	switch st.Phase {
	case PhaseControlPlane:
		return "the control-plane " + st.Step + " step"
	case PhaseWave:
		if st.CurrentWave >= 0 && int(st.CurrentWave) < len(st.Plan) {
			return fmt.Sprintf("the %s step of wave %s", st.Step, st.Plan[st.CurrentWave].Name)
		}
	case PhaseRollingBack:
		return "the rollback " + st.Step + " step"
	}
	return "the next step"
}

func describePlan(plan []meshv1.PlannedWave) string {
	if len(plan) == 0 {
		return "no meshed workloads to restart"
	}
	parts := make([]string, len(plan))
	n := 0
	for i, w := range plan {
		parts[i] = fmt.Sprintf("%s (%d)", w.Name, len(w.Workloads))
		n += len(w.Workloads)
	}
	return fmt.Sprintf("%d waves over %d workloads: %s", len(plan), n, strings.Join(parts, ", "))
}

func orUnknown(s string) string {
	if s == "" {
		return "no details"
	}
	return s
}
