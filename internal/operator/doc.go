// Package operator groups the packages of the operator, cmd/manager: the
// reconcile phases (lifecycle), the three state machines (release, rotation,
// upgrade), trust material, conditions, the Helm SDK wrapper and the embedded
// control-plane charts. Nothing here is imported by the control-plane program
// or the proxy; what several programs share lives in internal/contract,
// internal/pki and internal/buildinfo.
package operator
