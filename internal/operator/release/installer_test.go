package release

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
)

// The installer's failure paths against a fake Helm that keeps a release
// history the way helm.Manager does (a failed install or upgrade is recorded
// as a failed revision, a render failure records nothing, rollback and
// replace add a revision, unlock marks the pending revision failed), with
// failures injected per verb. No cluster: helm's own behaviour against a real
// API server is covered by internal/operator/helm's envtest tests.

type fakeRev struct {
	status helm.Status
	digest string
}

type fakeHelm struct {
	revs  []fakeRev // index i is revision i+1
	calls []string
	// fail, per verb, the errors of the next calls (consumed in order); a
	// failure of install/upgrade records a failed revision unless it is a
	// render failure.
	fail map[string][]error
	// getErr fails every Get.
	getErr error
	// dropDigest makes a successful upgrade record no digest, as a Helm that
	// ignored the label would: the release never reaches the desired digest.
	dropDigest bool
}

func (f *fakeHelm) nextErr(verb string) error {
	f.calls = append(f.calls, verb)
	errs := f.fail[verb]
	if len(errs) == 0 {
		return nil
	}
	f.fail[verb] = errs[1:]
	return errs[0]
}

func (f *fakeHelm) latest() *helm.Release {
	if len(f.revs) == 0 {
		return nil
	}
	n := len(f.revs)
	rel := &helm.Release{Name: ReleaseName, Namespace: "mesh-system", Revision: n, Status: f.revs[n-1].status, Digest: f.revs[n-1].digest}
	for i := n - 1; i >= 0; i-- {
		if s := f.revs[i].status; s == helm.StatusDeployed || s == helm.StatusSuperseded {
			rel.LastDeployedRevision = i + 1
			break
		}
	}
	return rel
}

// record supersedes the deployed revision when a new one is deployed.
func (f *fakeHelm) record(st helm.Status, digest string) {
	if st == helm.StatusDeployed {
		for i := range f.revs {
			if f.revs[i].status == helm.StatusDeployed {
				f.revs[i].status = helm.StatusSuperseded
			}
		}
	}
	f.revs = append(f.revs, fakeRev{st, digest})
}

func (f *fakeHelm) Get(context.Context, string, string) (*helm.Release, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	return f.latest(), nil
}

func (f *fakeHelm) Validate(context.Context, helm.InstallRequest) error { return f.nextErr("validate") }

func (f *fakeHelm) Install(_ context.Context, req helm.InstallRequest) (*helm.Release, error) {
	err := f.nextErr("install")
	if cur := f.latest(); cur != nil && (cur.Status.IsPending() || (cur.Status != helm.StatusFailed && cur.Status != helm.StatusUninstalled)) {
		return cur, fmt.Errorf("fake helm install: revision %d is %s", cur.Revision, cur.Status)
	}
	return f.change(err, req.Digest)
}

func (f *fakeHelm) Upgrade(_ context.Context, req helm.InstallRequest) (*helm.Release, error) {
	err := f.nextErr("upgrade")
	cur := f.latest()
	if cur == nil || cur.Status.IsPending() {
		return cur, fmt.Errorf("fake helm upgrade: release absent or pending")
	}
	digest := req.Digest
	if f.dropDigest {
		digest = ""
	}
	return f.change(err, digest)
}

func (f *fakeHelm) change(err error, digest string) (*helm.Release, error) {
	switch {
	case errors.Is(err, helm.ErrRenderFailed):
		return nil, err
	case err != nil:
		f.record(helm.StatusFailed, digest)
		return f.latest(), err
	}
	f.record(helm.StatusDeployed, digest)
	return f.latest(), nil
}

func (f *fakeHelm) Rollback(_ context.Context, _, _ string, to int) (*helm.Release, error) {
	f.calls = append(f.calls, fmt.Sprintf("rollback:%d", to))
	if errs := f.fail["rollback"]; len(errs) > 0 {
		f.fail["rollback"] = errs[1:]
		return f.latest(), errs[0]
	}
	if to < 1 || to > len(f.revs) {
		return nil, fmt.Errorf("fake helm rollback: no revision %d", to)
	}
	f.record(helm.StatusDeployed, f.revs[to-1].digest)
	return f.latest(), nil
}

func (f *fakeHelm) Uninstall(context.Context, string, string) error {
	if err := f.nextErr("uninstall"); err != nil {
		return err
	}
	f.revs = nil
	return nil
}

func (f *fakeHelm) Unlock(context.Context, string, string) (*helm.Release, error) {
	if err := f.nextErr("unlock"); err != nil {
		return nil, err
	}
	if cur := f.latest(); cur != nil && cur.Status.IsPending() {
		f.revs[len(f.revs)-1].status = helm.StatusFailed
	}
	return f.latest(), nil
}

func (f *fakeHelm) Objects(*helm.Release) ([]*unstructured.Unstructured, error) {
	f.calls = append(f.calls, "objects")
	return nil, nil
}

// drift records that drift repair ran (only once the release is in sync).
type drift struct{ h *fakeHelm }

func (d drift) Repair(context.Context, []*unstructured.Unstructured) ([]string, error) {
	d.h.calls = append(d.h.calls, "repair")
	return nil, nil
}

// recorder keeps the reasons of the events emitted.
type recorder struct{ reasons []string }

func (r *recorder) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.reasons = append(r.reasons, reason)
}

var _ events.EventRecorder = (*recorder)(nil)

type installerFixture struct {
	helm *fakeHelm
	rec  *recorder
	in   *Installer
	mi   *meshv1.MeshInstallation
}

func newInstallerFixture(revs ...fakeRev) *installerFixture {
	h := &fakeHelm{revs: revs, fail: map[string][]error{}}
	rec := &recorder{}
	mi := &meshv1.MeshInstallation{}
	mi.Name = "mesh"
	mi.Spec.ControlPlane.Namespace = "mesh-system"
	return &installerFixture{helm: h, rec: rec, in: &Installer{Helm: h, Drift: drift{h}, Recorder: rec}, mi: mi}
}

func (f *installerFixture) pass(digest string) error {
	f.helm.calls = nil
	_, err := f.in.Reconcile(context.Background(), f.mi, &Desired{Version: "0.1.0", Digest: digest})
	return err
}

func wantCalls(t *testing.T, f *installerFixture, want ...string) {
	t.Helper()
	if !slices.Equal(f.helm.calls, want) {
		t.Fatalf("helm calls = %v, want %v", f.helm.calls, want)
	}
}

func wantStalled(t *testing.T, err error, reason string) {
	t.Helper()
	s, ok := reconcileerr.AsStalled(err)
	if !ok || s.Reason != reason {
		t.Fatalf("error = %v, want stalled with reason %s", err, reason)
	}
}

func wantStatus(t *testing.T, f *installerFixture, rev int, st helm.Status, digest string, failures int32) {
	t.Helper()
	cp := f.mi.Status.ControlPlane
	if cp.ReleaseRevision != rev || cp.ReleaseStatus != string(st) || cp.Digest != digest || cp.Failures != failures {
		t.Fatalf("status.controlPlane = revision %d %q digest %q failures %d, want %d %q %q %d",
			cp.ReleaseRevision, cp.ReleaseStatus, cp.Digest, cp.Failures, rev, st, digest, failures)
	}
}

var errAPI = errors.New("the server is currently unable to handle the request")

func TestInstallerInstallFailureIsRetriedInPlace(t *testing.T) {
	f := newInstallerFixture()
	f.helm.fail["install"] = []error{errAPI}
	if err := f.pass("d1"); !errors.Is(err, errAPI) {
		t.Fatalf("first pass: %v, want the install error (retried with backoff)", err)
	}
	// Status keeps the release as read before the action (none) and counts
	// the failure; the failed revision is read on the next pass.
	wantStatus(t, f, 0, "", "", 1)
	if f.mi.Status.ControlPlane.FailedDigest != "d1" || len(f.helm.revs) != 1 || f.helm.revs[0].status != helm.StatusFailed {
		t.Fatalf("failed digest = %q, history %+v", f.mi.Status.ControlPlane.FailedDigest, f.helm.revs)
	}
	// The next pass redoes the install in place (Helm's Replace).
	if err := f.pass("d1"); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	wantCalls(t, f, "install", "objects", "repair")
	wantStatus(t, f, 2, helm.StatusDeployed, "d1", 0)
	if !slices.Equal(f.rec.reasons, []string{meshv1.ReasonInstallFailed, "Installed"}) {
		t.Fatalf("events = %v", f.rec.reasons)
	}
}

func TestInstallerHoldsAfterMaxAttempts(t *testing.T) {
	f := newInstallerFixture()
	for range MaxAttempts {
		f.helm.fail["install"] = append(f.helm.fail["install"], errAPI)
	}
	for i := 1; i <= MaxAttempts; i++ {
		if err := f.pass("d1"); !errors.Is(err, errAPI) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if got := f.mi.Status.ControlPlane.Failures; got != int32(i) {
			t.Fatalf("attempt %d: failures = %d", i, got)
		}
	}
	err := f.pass("d1")
	wantStalled(t, err, meshv1.ReasonInstallFailed)
	wantCalls(t, f) // holding calls no Helm action
	// A spec change (another digest) is tried again.
	if err := f.pass("d2"); err != nil {
		t.Fatalf("new digest: %v", err)
	}
	wantCalls(t, f, "install", "objects", "repair")
	wantStatus(t, f, MaxAttempts+1, helm.StatusDeployed, "d2", 0)
}

func TestInstallerRenderFailureStallsAtOnce(t *testing.T) {
	f := newInstallerFixture()
	f.helm.fail["install"] = []error{fmt.Errorf("helm install: %w: bad value", helm.ErrRenderFailed)}
	wantStalled(t, f.pass("d1"), meshv1.ReasonInvalidValues)
	if len(f.helm.revs) != 0 {
		t.Fatalf("a render failure records no revision: %v", f.helm.revs)
	}
	// Held afterwards, without another render.
	if _, ok := reconcileerr.AsStalled(f.pass("d1")); !ok {
		t.Fatal("second pass is not held")
	}
	wantCalls(t, f)
}

func TestInstallerUpgradeFailureRollsBackThenRetries(t *testing.T) {
	f := newInstallerFixture(fakeRev{helm.StatusDeployed, "old"})
	f.helm.fail["upgrade"] = []error{errAPI}
	if err := f.pass("new"); !errors.Is(err, errAPI) {
		t.Fatalf("failed upgrade: %v", err)
	}
	wantCalls(t, f, "upgrade")
	wantStatus(t, f, 1, helm.StatusDeployed, "old", 1)
	if f.helm.revs[1] != (fakeRev{helm.StatusFailed, "new"}) {
		t.Fatalf("revision 2 is the failed upgrade: %+v", f.helm.revs)
	}

	// Next pass: roll back to revision 1, then upgrade again, in one pass.
	if err := f.pass("new"); err != nil {
		t.Fatalf("rollback and retry: %v", err)
	}
	wantCalls(t, f, "rollback:1", "upgrade", "objects", "repair")
	wantStatus(t, f, 4, helm.StatusDeployed, "new", 0)
	if f.helm.revs[2] != (fakeRev{helm.StatusSuperseded, "old"}) {
		t.Fatalf("revision 3 is the rollback to the old digest: %+v", f.helm.revs[2])
	}
	want := []string{meshv1.ReasonUpgradeFailed, meshv1.ReasonRolledBack, "Upgraded"}
	if !slices.Equal(f.rec.reasons, want) {
		t.Fatalf("events = %v, want %v", f.rec.reasons, want)
	}
}

func TestInstallerUpgradeFailingMaxAttemptsStaysRolledBack(t *testing.T) {
	f := newInstallerFixture(fakeRev{helm.StatusDeployed, "old"})
	for range MaxAttempts {
		f.helm.fail["upgrade"] = append(f.helm.fail["upgrade"], errAPI)
	}
	for i := 1; i <= MaxAttempts; i++ {
		if err := f.pass("new"); !errors.Is(err, errAPI) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// The last failed upgrade is rolled back, and then the digest is held.
	err := f.pass("new")
	wantStalled(t, err, meshv1.ReasonUpgradeFailed)
	wantCalls(t, f, fmt.Sprintf("rollback:%d", len(f.helm.revs)-2))
	last := f.helm.revs[len(f.helm.revs)-1]
	if last != (fakeRev{helm.StatusDeployed, "old"}) {
		t.Fatalf("held at the rolled-back revision, got %+v", last)
	}
	if err := f.pass("new"); err == nil {
		t.Fatal("still held on the next pass")
	}
	wantCalls(t, f)
}

func TestInstallerUnlocksPendingRelease(t *testing.T) {
	cases := []struct {
		name  string
		revs  []fakeRev
		calls []string
		rev   int
	}{
		{"pending-install after a crash is unlocked and redone",
			[]fakeRev{{helm.StatusPendingInstall, "d1"}},
			[]string{"unlock", "install", "objects", "repair"}, 2},
		{"pending-upgrade after a crash is unlocked, rolled back and redone",
			[]fakeRev{{helm.StatusDeployed, "old"}, {helm.StatusPendingUpgrade, "d1"}},
			[]string{"unlock", "rollback:1", "upgrade", "objects", "repair"}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newInstallerFixture(tc.revs...)
			if err := f.pass("d1"); err != nil {
				t.Fatal(err)
			}
			wantCalls(t, f, tc.calls...)
			wantStatus(t, f, tc.rev, helm.StatusDeployed, "d1", 0)
			if f.rec.reasons[0] != "ReleaseUnlocked" {
				t.Fatalf("events = %v", f.rec.reasons)
			}
		})
	}
}

func TestInstallerUnlockFailureStopsThePass(t *testing.T) {
	f := newInstallerFixture(fakeRev{helm.StatusPendingInstall, "d1"})
	f.helm.fail["unlock"] = []error{errAPI}
	if err := f.pass("d1"); !errors.Is(err, errAPI) {
		t.Fatalf("pass: %v", err)
	}
	wantCalls(t, f, "unlock")
	if f.helm.revs[0].status != helm.StatusPendingInstall || len(f.rec.reasons) != 0 {
		t.Fatalf("nothing else changed: %+v, events %v", f.helm.revs, f.rec.reasons)
	}
}

func TestInstallerNeverRepeatsAnActionInOnePass(t *testing.T) {
	f := newInstallerFixture(fakeRev{helm.StatusDeployed, "old"})
	f.helm.dropDigest = true
	err := f.pass("new")
	if err == nil || !strings.Contains(err.Error(), "after doing it once in this pass") {
		t.Fatalf("pass: %v, want the repeated-action error", err)
	}
	wantCalls(t, f, "upgrade")
}

func TestInstallerGetFailureActsOnNothing(t *testing.T) {
	f := newInstallerFixture(fakeRev{helm.StatusDeployed, "old"})
	f.helm.getErr = errAPI
	if err := f.pass("new"); !errors.Is(err, errAPI) {
		t.Fatalf("pass: %v", err)
	}
	wantCalls(t, f)
}
