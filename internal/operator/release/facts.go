package release

import (
	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
)

// ReleaseFacts is what was observed of the release and remembered in status.
type ReleaseFacts struct {
	Exists               bool
	Status               string
	Digest               string
	LastDeployedRevision int
	DesiredDigest        string
	// FailedDigest and Failures come from status: the digest that last failed
	// and how many times in a row.
	FailedDigest string
	Failures     int32
}

// facts turns the release read from Helm and what status remembers into
// the facts NextReleaseAction decides on.
func facts(rel *helm.Release, desired string, st *meshv1.ControlPlaneStatus) ReleaseFacts {
	f := ReleaseFacts{DesiredDigest: desired, FailedDigest: st.FailedDigest, Failures: st.Failures}
	if rel != nil {
		f.Exists, f.Status, f.Digest, f.LastDeployedRevision = true, string(rel.Status), rel.Digest, rel.LastDeployedRevision
	}
	return f
}

// recordRelease keeps in status the release as last read.
func recordRelease(st *meshv1.ControlPlaneStatus, rel *helm.Release) {
	if rel == nil {
		st.ReleaseRevision, st.ReleaseStatus, st.Digest = 0, "", ""
		return
	}
	st.ReleaseRevision, st.ReleaseStatus, st.Digest = rel.Revision, string(rel.Status), rel.Digest
}
