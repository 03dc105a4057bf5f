package dataplane

import (
	"fmt"
	"time"
)

// RestartCooldown is the least time between two restarts of one workload
// for its unmeshed pods: a rollout needs time to replace them, and a
// workload whose new pods come up unmeshed again must not be rolled in a loop.
const RestartCooldown = 5 * time.Minute

// RestartHold is the first reason, in order, not to restart any workload
// for its unmeshed pods now; "" when restarts may go ahead.
//   - Report: the user asked to be told only.
//   - the injector does not answer: the new pods would come up unmeshed too.
//   - an upgrade or rotation runs: it restarts workloads itself, under its
//     own gates, and two restarters would fight over the same pods.
func RestartHold(report, injectorAnswers, upgradeRunning, rotationRunning bool) string {
	switch {
	case report:
		return "spec.dataPlane.unmeshedPods is Report"
	case !injectorAnswers:
		return "waiting for the injector to answer before restarting"
	case upgradeRunning:
		return "an upgrade is restarting workloads"
	case rotationRunning:
		return "a trust rotation is restarting workloads"
	}
	return ""
}

// Workload is what the restart decision knows of one owning workload.
type Workload struct {
	// Key is the workload ("Kind/namespace/name").
	Key string
	// LastRestart is the template's last restart stamp (zero if none).
	LastRestart time.Time
	// Blocked says which PodDisruptionBudget forbids a disruption now ("" if none).
	Blocked string
}

// RestartDecision is which workloads to restart now, and when to look again
// at those that must wait (0: none waits).
type RestartDecision struct {
	Restart      []string
	Waiting      []string
	RecheckAfter time.Duration
}

// DecideRestarts picks, in the given order, the workloads to restart now:
// those not restarted within RestartCooldown and not held by a PDB.
func DecideRestarts(now time.Time, workloads []Workload) RestartDecision {
	var d RestartDecision
	wait := func(after time.Duration, why string) {
		d.Waiting = append(d.Waiting, why)
		if d.RecheckAfter == 0 || after < d.RecheckAfter {
			d.RecheckAfter = after
		}
	}
	for _, w := range workloads {
		switch next := w.LastRestart.Add(RestartCooldown); {
		case now.Before(next):
			wait(next.Sub(now), fmt.Sprintf("%s restarted at %s", w.Key, w.LastRestart.UTC().Format(time.RFC3339)))
		case w.Blocked != "":
			// A PDB's status moves without an event of ours: poll it.
			wait(30*time.Second, fmt.Sprintf("%s: %s", w.Key, w.Blocked))
		default:
			d.Restart = append(d.Restart, w.Key)
		}
	}
	return d
}
