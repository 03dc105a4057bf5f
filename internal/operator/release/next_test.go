package release

import "testing"

func TestNextReleaseAction(t *testing.T) {
	cases := []struct {
		name string
		f    ReleaseFacts
		want ReleaseAction
	}{
		{"absent installs", ReleaseFacts{DesiredDigest: "b"}, ReleaseInstall},
		{"absent after exhausted render failures holds", ReleaseFacts{DesiredDigest: "b", FailedDigest: "b", Failures: MaxAttempts}, ReleaseHold},
		{"absent after a failure of an older digest installs", ReleaseFacts{DesiredDigest: "b", FailedDigest: "a", Failures: MaxAttempts}, ReleaseInstall},
		{"pending-install after a crash unlocks", ReleaseFacts{Exists: true, Status: StatusPendingInstall, DesiredDigest: "b"}, ReleaseUnlock},
		{"pending-upgrade after a crash unlocks", ReleaseFacts{Exists: true, Status: StatusPendingUpgrade, Digest: "a", LastDeployedRevision: 1, DesiredDigest: "b"}, ReleaseUnlock},
		{"pending-rollback unlocks even when exhausted", ReleaseFacts{Exists: true, Status: StatusPendingRollback, DesiredDigest: "b", FailedDigest: "b", Failures: 9}, ReleaseUnlock},
		{"failed first install is redone", ReleaseFacts{Exists: true, Status: StatusFailed, DesiredDigest: "b", Failures: 1, FailedDigest: "b"}, ReleaseInstall},
		{"failed upgrade rolls back", ReleaseFacts{Exists: true, Status: StatusFailed, Digest: "b", LastDeployedRevision: 1, DesiredDigest: "b"}, ReleaseRollback},
		{"failed upgrade rolls back even when exhausted", ReleaseFacts{Exists: true, Status: StatusFailed, Digest: "b", LastDeployedRevision: 1, DesiredDigest: "b", FailedDigest: "b", Failures: MaxAttempts}, ReleaseRollback},
		{"deployed at another digest upgrades", ReleaseFacts{Exists: true, Status: StatusDeployed, Digest: "a", LastDeployedRevision: 1, DesiredDigest: "b"}, ReleaseUpgrade},
		{"deployed after a rolled-back digest holds", ReleaseFacts{Exists: true, Status: StatusDeployed, Digest: "a", LastDeployedRevision: 3, DesiredDigest: "b", FailedDigest: "b", Failures: MaxAttempts}, ReleaseHold},
		{"deployed at the desired digest is in sync", ReleaseFacts{Exists: true, Status: StatusDeployed, Digest: "b", LastDeployedRevision: 1, DesiredDigest: "b"}, ReleaseInSync},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := NextReleaseAction(tc.f)
			if got.Action != tc.want {
				t.Fatalf("NextReleaseAction(%+v) = %s (%s), want %s", tc.f, got.Action, got.Reason, tc.want)
			}
			if got.Reason == "" {
				t.Fatal("every decision explains itself")
			}
		})
	}
}
