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
	"github.com/meshkeeper/meshkeeper/internal/operator/helm/helmtest"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
)

// The installer's failure paths against helmtest.Fake, which keeps a release
// history the way helm.Manager does and fails calls on demand. No cluster:
// helm.Manager's own behaviour against a real API server is covered by
// internal/operator/helm's envtest tests.

// drift records that drift repair ran (only once the release is in sync).
type drift struct{ h *helmtest.Fake }

func (d drift) Repair(context.Context, []*unstructured.Unstructured) ([]string, error) {
	d.h.Calls = append(d.h.Calls, "repair")
	return nil, nil
}

// recorder keeps the reasons of the events emitted.
type recorder struct{ reasons []string }

func (r *recorder) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.reasons = append(r.reasons, reason)
}

var _ events.EventRecorder = (*recorder)(nil)

type installerFixture struct {
	helm *helmtest.Fake
	rec  *recorder
	in   *Installer
	mi   *meshv1.MeshInstallation
}

type fakeRev = helmtest.Rev

func newInstallerFixture(revs ...fakeRev) *installerFixture {
	h := helmtest.New("mesh-system", ReleaseName, revs...)
	rec := &recorder{}
	mi := &meshv1.MeshInstallation{}
	mi.Name = "mesh"
	mi.Spec.ControlPlane.Namespace = "mesh-system"
	return &installerFixture{helm: h, rec: rec, in: &Installer{Helm: h, Drift: drift{h}, Recorder: rec}, mi: mi}
}

func (f *installerFixture) pass(digest string) error {
	f.helm.Calls = nil
	_, err := f.in.Reconcile(context.Background(), f.mi, &Desired{Version: "0.1.0", Digest: digest})
	return err
}

func wantCalls(t *testing.T, f *installerFixture, want ...string) {
	t.Helper()
	if !slices.Equal(f.helm.Calls, want) {
		t.Fatalf("helm calls = %v, want %v", f.helm.Calls, want)
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
	f.helm.Fail["install"] = []error{errAPI}
	if err := f.pass("d1"); !errors.Is(err, errAPI) {
		t.Fatalf("first pass: %v, want the install error (retried with backoff)", err)
	}
	// Status keeps the release as read before the action (none) and counts
	// the failure; the failed revision is read on the next pass.
	wantStatus(t, f, 0, "", "", 1)
	if f.mi.Status.ControlPlane.FailedDigest != "d1" || len(f.helm.Revs) != 1 || f.helm.Revs[0].Status != helm.StatusFailed {
		t.Fatalf("failed digest = %q, history %+v", f.mi.Status.ControlPlane.FailedDigest, f.helm.Revs)
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
		f.helm.Fail["install"] = append(f.helm.Fail["install"], errAPI)
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
	f.helm.Fail["install"] = []error{fmt.Errorf("helm install: %w: bad value", helm.ErrRenderFailed)}
	wantStalled(t, f.pass("d1"), meshv1.ReasonInvalidValues)
	if len(f.helm.Revs) != 0 {
		t.Fatalf("a render failure records no revision: %v", f.helm.Revs)
	}
	// Held afterwards, without another render.
	if _, ok := reconcileerr.AsStalled(f.pass("d1")); !ok {
		t.Fatal("second pass is not held")
	}
	wantCalls(t, f)
}

func TestInstallerUpgradeFailureRollsBackThenRetries(t *testing.T) {
	f := newInstallerFixture(fakeRev{Status: helm.StatusDeployed, Digest: "old"})
	f.helm.Fail["upgrade"] = []error{errAPI}
	if err := f.pass("new"); !errors.Is(err, errAPI) {
		t.Fatalf("failed upgrade: %v", err)
	}
	wantCalls(t, f, "upgrade")
	wantStatus(t, f, 1, helm.StatusDeployed, "old", 1)
	if f.helm.Revs[1] != (fakeRev{Status: helm.StatusFailed, Digest: "new"}) {
		t.Fatalf("revision 2 is the failed upgrade: %+v", f.helm.Revs)
	}

	// Next pass: roll back to revision 1, then upgrade again, in one pass.
	if err := f.pass("new"); err != nil {
		t.Fatalf("rollback and retry: %v", err)
	}
	wantCalls(t, f, "rollback:1", "upgrade", "objects", "repair")
	wantStatus(t, f, 4, helm.StatusDeployed, "new", 0)
	if f.helm.Revs[2] != (fakeRev{Status: helm.StatusSuperseded, Digest: "old"}) {
		t.Fatalf("revision 3 is the rollback to the old digest: %+v", f.helm.Revs[2])
	}
	want := []string{meshv1.ReasonUpgradeFailed, meshv1.ReasonRolledBack, "Upgraded"}
	if !slices.Equal(f.rec.reasons, want) {
		t.Fatalf("events = %v, want %v", f.rec.reasons, want)
	}
}

func TestInstallerUpgradeFailingMaxAttemptsStaysRolledBack(t *testing.T) {
	f := newInstallerFixture(fakeRev{Status: helm.StatusDeployed, Digest: "old"})
	for range MaxAttempts {
		f.helm.Fail["upgrade"] = append(f.helm.Fail["upgrade"], errAPI)
	}
	for i := 1; i <= MaxAttempts; i++ {
		if err := f.pass("new"); !errors.Is(err, errAPI) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// The last failed upgrade is rolled back, and then the digest is held.
	err := f.pass("new")
	wantStalled(t, err, meshv1.ReasonUpgradeFailed)
	wantCalls(t, f, fmt.Sprintf("rollback:%d", len(f.helm.Revs)-2))
	last := f.helm.Revs[len(f.helm.Revs)-1]
	if last != (fakeRev{Status: helm.StatusDeployed, Digest: "old"}) {
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
			[]fakeRev{{Status: helm.StatusPendingInstall, Digest: "d1"}},
			[]string{"unlock", "install", "objects", "repair"}, 2},
		{"pending-upgrade after a crash is unlocked, rolled back and redone",
			[]fakeRev{{Status: helm.StatusDeployed, Digest: "old"}, {Status: helm.StatusPendingUpgrade, Digest: "d1"}},
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
	f := newInstallerFixture(fakeRev{Status: helm.StatusPendingInstall, Digest: "d1"})
	f.helm.Fail["unlock"] = []error{errAPI}
	if err := f.pass("d1"); !errors.Is(err, errAPI) {
		t.Fatalf("pass: %v", err)
	}
	wantCalls(t, f, "unlock")
	if f.helm.Revs[0].Status != helm.StatusPendingInstall || len(f.rec.reasons) != 0 {
		t.Fatalf("nothing else changed: %+v, events %v", f.helm.Revs, f.rec.reasons)
	}
}

func TestInstallerNeverRepeatsAnActionInOnePass(t *testing.T) {
	f := newInstallerFixture(fakeRev{Status: helm.StatusDeployed, Digest: "old"})
	f.helm.DropDigest = true
	err := f.pass("new")
	if err == nil || !strings.Contains(err.Error(), "after doing it once in this pass") {
		t.Fatalf("pass: %v, want the repeated-action error", err)
	}
	wantCalls(t, f, "upgrade")
}

func TestInstallerGetFailureActsOnNothing(t *testing.T) {
	f := newInstallerFixture(fakeRev{Status: helm.StatusDeployed, Digest: "old"})
	f.helm.GetErr = errAPI
	if err := f.pass("new"); !errors.Is(err, errAPI) {
		t.Fatalf("pass: %v", err)
	}
	wantCalls(t, f)
}
