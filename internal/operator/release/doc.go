// Package release is the operator's state machine for the control-plane Helm
// release. It runs in the operator (cmd/manager). Its three machines —
// release, rotation, upgrade — share one layout and one set of file names:
//   - facts.go: what the machine decides on (ReleaseFacts), built from the
//     release read from Helm and the failure count kept in status;
//   - next.go: the pure decision, NextReleaseAction(facts) → Decision, an
//     ordered chain of rules, table-tested;
//   - apply.go: the Installer, which reads the release, asks for the next
//     action and performs it through Helm, one action at a time and never
//     the same one twice in a pass, until the release is in sync or held.
//
// Beside the machine: the chart values derived from the spec (values.go),
// drift repair with server-side apply (drift.go) and readiness read from the
// rendered Deployments (readiness.go).
package release
