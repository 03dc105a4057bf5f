// Package helmtest is a Helm client for tests of the code that drives Helm
// (release.HelmClient): it keeps a release's history the way helm.Manager
// does — a failed install or upgrade is recorded as a failed revision, a
// render failure records nothing, rollback and a redone install add a
// revision, unlock marks a pending revision failed — and fails calls on
// demand. helm.Manager itself is tested against a real API server
// (internal/operator/helm, envtest).
package helmtest

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
)

// Rev is one stored revision; Revs[i] is revision i+1.
type Rev struct {
	Status       helm.Status
	Digest       string
	ChartVersion string
}

// Fake is one release of one namespace. Not safe for concurrent use.
type Fake struct {
	Name, Namespace string
	Revs            []Rev
	// Calls lists the calls made, in order: install, upgrade, rollback:<to>,
	// unlock, uninstall, validate, objects. Fail is keyed by the verb alone
	// ("rollback").
	Calls []string
	// Fail holds, per verb, the errors of its next calls, consumed in order.
	// A failed install or upgrade records a failed revision, except for an
	// error wrapping helm.ErrRenderFailed.
	Fail map[string][]error
	// GetErr fails every Get.
	GetErr error
	// DropDigest makes upgrades record no digest, as a Helm that ignored the
	// label would: the release never reaches the desired digest.
	DropDigest bool
}

// New returns a Fake holding revs.
func New(namespace, name string, revs ...Rev) *Fake {
	return &Fake{Name: name, Namespace: namespace, Revs: revs, Fail: map[string][]error{}}
}

func (f *Fake) nextErr(verb string) error { return f.call(verb, verb) }

// call records name and returns the next error queued for verb.
func (f *Fake) call(verb, name string) error {
	f.Calls = append(f.Calls, name)
	errs := f.Fail[verb]
	if len(errs) == 0 {
		return nil
	}
	f.Fail[verb] = errs[1:]
	return errs[0]
}

// Latest is what Get returns: the newest revision, nil when there is none.
func (f *Fake) Latest() *helm.Release {
	n := len(f.Revs)
	if n == 0 {
		return nil
	}
	last := f.Revs[n-1]
	rel := &helm.Release{Name: f.Name, Namespace: f.Namespace, Revision: n, Status: last.Status, Digest: last.Digest, ChartVersion: last.ChartVersion}
	for i := n - 1; i >= 0; i-- {
		if s := f.Revs[i].Status; s == helm.StatusDeployed || s == helm.StatusSuperseded {
			rel.LastDeployedRevision = i + 1
			break
		}
	}
	return rel
}

// record supersedes the deployed revision when a new one is deployed.
func (f *Fake) record(r Rev) {
	if r.Status == helm.StatusDeployed {
		for i := range f.Revs {
			if f.Revs[i].Status == helm.StatusDeployed {
				f.Revs[i].Status = helm.StatusSuperseded
			}
		}
	}
	f.Revs = append(f.Revs, r)
}

func (f *Fake) Get(context.Context, string, string) (*helm.Release, error) {
	if f.GetErr != nil {
		return nil, f.GetErr
	}
	return f.Latest(), nil
}

func (f *Fake) Validate(context.Context, helm.InstallRequest) error { return f.nextErr("validate") }

func (f *Fake) Install(_ context.Context, req helm.InstallRequest) (*helm.Release, error) {
	err := f.nextErr("install")
	if cur := f.Latest(); cur != nil && cur.Status != helm.StatusFailed && cur.Status != helm.StatusUninstalled {
		return cur, fmt.Errorf("helmtest install: revision %d is %s", cur.Revision, cur.Status)
	}
	return f.change(err, req, req.Digest)
}

func (f *Fake) Upgrade(_ context.Context, req helm.InstallRequest) (*helm.Release, error) {
	err := f.nextErr("upgrade")
	cur := f.Latest()
	if cur == nil || cur.Status.IsPending() {
		return cur, errors.New("helmtest upgrade: release absent or pending")
	}
	digest := req.Digest
	if f.DropDigest {
		digest = ""
	}
	return f.change(err, req, digest)
}

func (f *Fake) change(err error, req helm.InstallRequest, digest string) (*helm.Release, error) {
	version := ""
	if req.Chart != nil {
		version = req.Chart.Version()
	}
	switch {
	case errors.Is(err, helm.ErrRenderFailed):
		return nil, err
	case err != nil:
		f.record(Rev{helm.StatusFailed, digest, version})
		return f.Latest(), err
	}
	f.record(Rev{helm.StatusDeployed, digest, version})
	return f.Latest(), nil
}

func (f *Fake) Rollback(_ context.Context, _, _ string, to int) (*helm.Release, error) {
	if err := f.call("rollback", fmt.Sprintf("rollback:%d", to)); err != nil {
		return f.Latest(), err
	}
	if to < 1 || to > len(f.Revs) {
		return nil, fmt.Errorf("helmtest rollback: no revision %d", to)
	}
	r := f.Revs[to-1]
	r.Status = helm.StatusDeployed
	f.record(r)
	return f.Latest(), nil
}

func (f *Fake) Uninstall(context.Context, string, string) error {
	if err := f.nextErr("uninstall"); err != nil {
		return err
	}
	f.Revs = nil
	return nil
}

func (f *Fake) Unlock(context.Context, string, string) (*helm.Release, error) {
	if err := f.nextErr("unlock"); err != nil {
		return nil, err
	}
	if cur := f.Latest(); cur != nil && cur.Status.IsPending() {
		f.Revs[len(f.Revs)-1].Status = helm.StatusFailed
	}
	return f.Latest(), nil
}

// Objects returns no objects: drift repair has nothing to repair.
func (f *Fake) Objects(*helm.Release) ([]*unstructured.Unstructured, error) {
	f.Calls = append(f.Calls, "objects")
	return nil, nil
}
