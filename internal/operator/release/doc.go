// Package release is the operator's state machine for the control-plane Helm
// release, one of its three machines (release, rotation, upgrade), laid out the
// same way in each package:
//   - next.go: the facts observed and the pure Next decision (no side effects,
//     table-tested);
//   - installer.go: gathers the facts and applies the decision through Helm.
//
// It also derives the chart values from the spec (values.go), repairs drift with
// server-side apply (drift.go) and reads readiness from the rendered
// Deployments (readiness.go). It runs in the operator (cmd/manager).
package release
