package release

import "fmt"

// ReleaseAction is the next step for the control-plane Helm release.
type ReleaseAction string

const (
	// ReleaseInSync: deployed at the desired digest; only drift repair remains.
	ReleaseInSync ReleaseAction = "InSync"
	// ReleaseInstall: no release, or a failed first install to redo in place.
	ReleaseInstall ReleaseAction = "Install"
	// ReleaseUpgrade: deployed at another digest.
	ReleaseUpgrade ReleaseAction = "Upgrade"
	// ReleaseUnlock: left pending-* by an interrupted operation.
	ReleaseUnlock ReleaseAction = "Unlock"
	// ReleaseRollback: the latest upgrade failed; return to the last deployed revision.
	ReleaseRollback ReleaseAction = "Rollback"
	// ReleaseHold: the desired digest already failed MaxAttempts times; wait for a spec change.
	ReleaseHold ReleaseAction = "Hold"
)

// Helm release statuses, as Helm spells them.
const (
	StatusDeployed        = "deployed"
	StatusFailed          = "failed"
	StatusPendingInstall  = "pending-install"
	StatusPendingUpgrade  = "pending-upgrade"
	StatusPendingRollback = "pending-rollback"
	StatusUninstalling    = "uninstalling"
	StatusSuperseded      = "superseded"
)

// MaxAttempts is how often one chart+values digest is tried before holding.
const MaxAttempts = 3

// Decision is an action with the reason it was chosen.
type Decision struct {
	Action ReleaseAction
	Reason string
}

// NextReleaseAction is an ordered chain of rules; the first that matches wins.
func NextReleaseAction(f ReleaseFacts) Decision {
	exhausted := f.FailedDigest == f.DesiredDigest && f.Failures >= MaxAttempts
	switch {
	case f.Exists && isPending(f.Status):
		// The operator serialises its own Helm calls, so a pending status seen
		// at the start of a pass can only be left by a crash.
		return Decision{ReleaseUnlock, fmt.Sprintf("release left %s by an interrupted operation", f.Status)}
	case f.Exists && f.Status == StatusFailed && f.LastDeployedRevision > 0:
		return Decision{ReleaseRollback, "latest upgrade failed; returning to the last deployed revision"}
	case exhausted:
		return Decision{ReleaseHold, fmt.Sprintf("chart and values %s failed %d times; waiting for a spec change", short(f.DesiredDigest), f.Failures)}
	case !f.Exists:
		return Decision{ReleaseInstall, "no control-plane release yet"}
	case f.Status == StatusFailed || f.Status == StatusUninstalling:
		return Decision{ReleaseInstall, fmt.Sprintf("release is %s with no deployed revision", f.Status)}
	case f.Digest != f.DesiredDigest:
		return Decision{ReleaseUpgrade, fmt.Sprintf("chart or values changed (%s -> %s)", short(f.Digest), short(f.DesiredDigest))}
	}
	return Decision{ReleaseInSync, "release is deployed at the desired chart and values"}
}

func isPending(status string) bool {
	return status == StatusPendingInstall || status == StatusPendingUpgrade || status == StatusPendingRollback
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	if digest == "" {
		return "none"
	}
	return digest
}
