package ownership

import (
	"sort"
	"time"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
)

// Candidate is one MeshInstallation as the ownership decision sees it.
type Candidate struct {
	Name    string
	Created time.Time
	// Claimed is set when the installation holds the operator's finalizer:
	// only the owner is ever given one, and it is persisted before the owner
	// creates anything, so a claim outlives a reordering of timestamps.
	Claimed bool
}

// Owner names the installation that owns the mesh: the oldest claimant if any
// installation holds a claim, else the oldest installation. Ties on the
// (one-second) creation timestamp are broken by name, so every reconcile of
// every installation reaches the same verdict. "" when there are none.
func Owner(cands []Candidate) string {
	if len(cands) == 0 {
		return ""
	}
	c := append([]Candidate(nil), cands...)
	sort.Slice(c, func(i, j int) bool {
		if c[i].Claimed != c[j].Claimed {
			return c[i].Claimed
		}
		if !c[i].Created.Equal(c[j].Created) {
			return c[i].Created.Before(c[j].Created)
		}
		return c[i].Name < c[j].Name
	})
	return c[0].Name
}

// Check refuses to touch an object whose installation label names another
// installation. An unlabelled object is the caller's to adopt.
func Check(kind, key, labelled, installation string) error {
	if labelled == "" || labelled == installation {
		return nil
	}
	return Conflictf("%s %s belongs to MeshInstallation %q; %q leaves it alone", kind, key, labelled, installation)
}

// Conflictf is the Stalled error of a refused installation or object.
func Conflictf(format string, args ...any) error {
	return reconcileerr.Stalledf(meshv1.ReasonConflict, format, args...)
}

// Refusal is the message a refused installation reports.
func Refusal(owner string) error {
	return Conflictf("the cluster's mesh is owned by MeshInstallation %q; only one installation per cluster is supported, so this one creates, changes and removes nothing (delete it, or delete %q first)", owner, owner)
}
