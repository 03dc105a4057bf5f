package helm

import (
	"sort"

	"helm.sh/helm/v3/pkg/release"
)

// Status mirrors Helm's release status without exposing Helm types. The values
// are Helm's own strings.
type Status string

// Release statuses, as Helm spells them.
const (
	StatusUnknown         Status = Status(release.StatusUnknown)
	StatusDeployed        Status = Status(release.StatusDeployed)
	StatusUninstalled     Status = Status(release.StatusUninstalled)
	StatusSuperseded      Status = Status(release.StatusSuperseded)
	StatusFailed          Status = Status(release.StatusFailed)
	StatusUninstalling    Status = Status(release.StatusUninstalling)
	StatusPendingInstall  Status = Status(release.StatusPendingInstall)
	StatusPendingUpgrade  Status = Status(release.StatusPendingUpgrade)
	StatusPendingRollback Status = Status(release.StatusPendingRollback)
)

// IsPending reports whether the status is one of the pending-* states, in
// which Helm refuses to start another operation on the release.
func (s Status) IsPending() bool {
	return s == StatusPendingInstall || s == StatusPendingUpgrade || s == StatusPendingRollback
}

// DigestLabel is the Helm release label (stored on the release Secret too)
// that records the digest the caller passed in InstallRequest.Digest. Its
// value must be a valid label value (at most 63 characters).
const DigestLabel = "meshkeeper.io/digest"

// OwnerLabel is the Helm release label that records the name of the object
// (InstallRequest.Owner.Name) the release belongs to: its ownership claim.
const OwnerLabel = "meshkeeper.io/owner"

// Release is what the operator needs to know of a release's latest revision.
type Release struct {
	Name, Namespace string
	// Revision is the latest revision in storage.
	Revision int
	Status   Status
	// ChartVersion is the version of the chart of this revision.
	ChartVersion string
	// Digest is the value of the release label DigestLabel ("" if absent).
	Digest string
	// Owner is the value of the release label OwnerLabel ("" if absent: a
	// release written before the label existed).
	Owner string
	// Manifest is the rendered (post-rendered) manifest of this revision.
	Manifest string
	// LastDeployedRevision is the newest revision whose status is deployed or
	// superseded, 0 if none.
	LastDeployedRevision int
	Description          string
}

// fromHistory builds a Release from the full history of a release; nil when
// the history is empty.
func fromHistory(history []*release.Release) *Release {
	if len(history) == 0 {
		return nil
	}
	h := make([]*release.Release, 0, len(history))
	for _, r := range history {
		if r != nil {
			h = append(h, r)
		}
	}
	if len(h) == 0 {
		return nil
	}
	sort.Slice(h, func(i, j int) bool { return h[i].Version > h[j].Version })
	latest := fromHelm(h[0])
	for _, r := range h {
		if r.Info == nil {
			continue
		}
		if r.Info.Status == release.StatusDeployed || r.Info.Status == release.StatusSuperseded {
			latest.LastDeployedRevision = r.Version
			break
		}
	}
	return latest
}

// fromHelm converts one Helm release record.
func fromHelm(r *release.Release) *Release {
	out := &Release{
		Name:      r.Name,
		Namespace: r.Namespace,
		Revision:  r.Version,
		Status:    StatusUnknown,
		Manifest:  r.Manifest,
		Digest:    r.Labels[DigestLabel],
		Owner:     r.Labels[OwnerLabel],
	}
	if r.Info != nil {
		if r.Info.Status != "" {
			out.Status = Status(r.Info.Status)
		}
		out.Description = r.Info.Description
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		out.ChartVersion = r.Chart.Metadata.Version
	}
	return out
}
