package kubectlplugin

import (
	"errors"
	"fmt"
	"strings"
	"time"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// An action changes a copy of the installation (the caller sends the
// difference as a merge patch) and says what the operator will do next. The
// decisions are pure so the refusals are table-tested.

// Approve sets spec.upgrade.approvedVersion to the target of a Manual upgrade.
func Approve(mi *meshv1.MeshInstallation) (string, error) {
	up := mi.Spec.Upgrade
	target := mi.Spec.Version
	switch {
	case up == nil || up.Approval != meshv1.ApprovalManual:
		return "", errors.New("spec.upgrade.approval is not Manual: upgrades start without approval")
	case mi.Status.InstalledVersion == target:
		return "", fmt.Errorf("mesh %s is already installed: nothing to approve (set spec.version to upgrade)", target)
	case up.ApprovedVersion == target:
		return "", fmt.Errorf("the upgrade to %s is already approved", target)
	}
	up.ApprovedVersion = target
	return fmt.Sprintf("approved the upgrade %s -> %s: the operator upgrades the control plane, then restarts the planned waves, judging the gate after each step",
		mi.Status.InstalledVersion, target), nil
}

// SetUpgradePaused sets spec.upgrade.paused.
func SetUpgradePaused(mi *meshv1.MeshInstallation, paused bool) (string, error) {
	if mi.Spec.Upgrade == nil {
		mi.Spec.Upgrade = &meshv1.UpgradeSpec{}
	}
	if mi.Spec.Upgrade.Paused == paused {
		return "", fmt.Errorf("spec.upgrade.paused is already %t", paused)
	}
	mi.Spec.Upgrade.Paused = paused
	if paused {
		return "paused: the operator finishes no further upgrade step until `kubectl meshkeeper upgrade resume`; the step clock stops", nil
	}
	return "resumed: the upgrade continues where it stopped", nil
}

// RequestRotation asks the operator for an anchor rotation now. The
// annotation acts once per distinct value, so the value is the request time.
func RequestRotation(mi *meshv1.MeshInstallation, now time.Time) (string, error) {
	if r := mi.Status.Trust.Rotation; r != nil {
		return "", fmt.Errorf("a rotation (%s) is already in phase %s: wait for it (kubectl meshkeeper trust status)", r.Trigger, r.Phase)
	}
	if mi.Annotations == nil {
		mi.Annotations = map[string]string{}
	}
	value := now.UTC().Format(time.RFC3339Nano)
	if mi.Annotations[meshv1.RotateAnchorAnnotation] == value {
		return "", errors.New("a rotation was requested this instant already")
	}
	mi.Annotations[meshv1.RotateAnchorAnnotation] = value
	return fmt.Sprintf("requested an anchor rotation (%s=%s): the operator generates a new anchor, publishes it beside the old one, "+
		"switches the issuer once every proxy trusts both, then retires the old anchor once every proxy holds a new certificate; "+
		"follow it with kubectl meshkeeper trust status", meshv1.RotateAnchorAnnotation, value), nil
}

// UpgradePlan describes the upgrade in progress, the pending one, or none.
func UpgradePlan(mi *meshv1.MeshInstallation) string {
	var b strings.Builder
	u := mi.Status.Upgrade
	installed, target := mi.Status.InstalledVersion, mi.Spec.Version
	if u == nil || (u.Phase == phaseSucceeded && installed == target) {
		if installed == target {
			return fmt.Sprintf("no upgrade: mesh %s is installed, as spec.version asks\n", installed)
		}
		fmt.Fprintf(&b, "upgrade %s -> %s has not started yet\n", installed, target)
		return b.String()
	}
	fmt.Fprintf(&b, "upgrade %s -> %s: %s", u.From, u.To, u.Phase)
	if u.Step != "" {
		fmt.Fprintf(&b, " (%s)", u.Step)
	}
	b.WriteString("\n")
	if u.Phase == phaseAwaitingApproval {
		b.WriteString("waiting for approval: kubectl meshkeeper upgrade approve\n")
	}
	mark := func(current bool) string {
		if current {
			return "→"
		}
		return " "
	}
	fmt.Fprintf(&b, "%s 0. control plane\n", mark(u.CurrentWave < 0 && u.Phase != phaseAwaitingApproval))
	for i, w := range u.Plan {
		fmt.Fprintf(&b, "%s %d. wave %s: %d workload(s), %d restarted\n", mark(int(u.CurrentWave) == i), i+1, w.Name, len(w.Workloads), len(w.Restarted))
		done := map[string]bool{}
		for _, r := range w.Restarted {
			done[r] = true
		}
		for _, wl := range w.Workloads {
			state := "pending"
			if done[wl] {
				state = "restarted"
			}
			fmt.Fprintf(&b, "     %-50s %s\n", shortWorkload(wl), state)
		}
	}
	if v := u.LastVerdict; v != nil {
		verdict := "passed"
		if !v.Passed {
			verdict = "FAILED"
		}
		fmt.Fprintf(&b, "last gate: %s %s (%s): %s\n", v.Gate, verdict, v.Reason, v.Message)
	}
	if u.Message != "" {
		fmt.Fprintf(&b, "%s\n", u.Message)
	}
	return b.String()
}

// shortWorkload shows "Deployment/ns/name" as kubectl does: "ns/deploy/name".
func shortWorkload(key string) string {
	kind, ns, name, err := workload.ParseKey(key)
	if err != nil {
		return key
	}
	return ns + "/" + kindShort(kind) + "/" + name
}

func kindShort(kind string) string {
	switch kind {
	case workload.KindDeployment:
		return "deploy"
	case workload.KindStatefulSet:
		return "sts"
	case workload.KindDaemonSet:
		return "ds"
	}
	return strings.ToLower(kind)
}
