package upgrade

import (
	"fmt"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

// A switch of spec.dataPlane.redirect is carried out as an upgrade: the
// target is the pair (version, redirect mode). The control plane moves to
// the new mode in the control-plane step (its gate includes the CNI
// plugin's DaemonSet in CNI mode), and the waves restart every workload
// whose pods run the old mode, with the same gates and rollback as a
// version bump. A pod's mode is what the injector gave it (PodRedirect).

// orInitContainer reads an unset mode as InitContainer: the CRD default, and
// the only mode of control planes deployed before status.redirect existed.
func orInitContainer(mode meshv1.RedirectMode) meshv1.RedirectMode {
	if mode == "" {
		return meshv1.RedirectInitContainer
	}
	return mode
}

// specRedirect is the mode the spec asks for.
func (m *machine) specRedirect() meshv1.RedirectMode {
	return orInitContainer(m.Spec.DataPlane.Redirect)
}

// appliedRedirect is the mode the deployed control plane runs.
func (m *machine) appliedRedirect() meshv1.RedirectMode {
	return orInitContainer(m.ControlPlane.Redirect)
}

// desiredRedirect is the mode the control plane must run now. Like the
// version, it follows the status as read: a switch is recorded before the
// control plane moves.
func (m *machine) desiredRedirect() meshv1.RedirectMode {
	st := m.Upgrade
	if m.ControlPlane.Version == "" && (st == nil || !active(st.Phase)) {
		return m.specRedirect() // nothing deployed: install as specified
	}
	if st != nil && st.RedirectTo != "" {
		switch st.Phase {
		case PhaseControlPlane, PhaseWave, PhaseSucceeded:
			return st.RedirectTo
		case PhaseRollingBack:
			return st.RedirectFrom
		}
	}
	return m.appliedRedirect()
}

// redirectTarget is the mode an upgrade in progress moves to.
func (m *machine) redirectTarget(st *meshv1.UpgradeStatus) meshv1.RedirectMode {
	if st.RedirectTo != "" {
		return st.RedirectTo
	}
	return m.appliedRedirect()
}

// redirectAt reports whether the control plane runs mode ("" for any).
func (m *machine) redirectAt(mode meshv1.RedirectMode) bool {
	return mode == "" || m.appliedRedirect() == mode
}

// onRedirect reports whether a pod runs mode ("" for any).
func onRedirect(p Pod, mode meshv1.RedirectMode) bool { return mode == "" || p.Redirect == mode }

// describeChange names what an upgrade changes, for messages.
func describeChange(st *meshv1.UpgradeStatus) string {
	if st.RedirectTo == "" {
		return fmt.Sprintf("upgrade from %s to %s", st.From, st.To)
	}
	if st.From == st.To {
		return fmt.Sprintf("redirect switch from %s to %s (mesh %s)", st.RedirectFrom, st.RedirectTo, st.To)
	}
	return fmt.Sprintf("upgrade from %s to %s with a redirect switch from %s to %s", st.From, st.To, st.RedirectFrom, st.RedirectTo)
}

// redirectChange is the RedirectTo of an upgrade: the spec's mode when it
// switches, "" when the mode stays.
func redirectChange(switching bool, want meshv1.RedirectMode) meshv1.RedirectMode {
	if switching {
		return want
	}
	return ""
}

// movedOn reports whether a workload runs what a rollback must take back:
// the new proxy, or in a redirect switch the new mode.
func (m *machine) movedOn(w Workload, st *meshv1.UpgradeStatus, toProxy, fromProxy string) bool {
	return (toProxy != fromProxy && w.Runs(toProxy)) || (st.RedirectTo != "" && w.RunsRedirect(st.RedirectTo))
}
