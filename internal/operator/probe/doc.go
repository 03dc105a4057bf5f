// Package probe asks the running control plane whether it works as its
// clients reach it: the injector through the API server (a server-side dry-run
// pod) and the identity service through a CSR signed for the operator's own
// ServiceAccount. The operator (cmd/manager) runs these probes before it trusts
// a control plane with workloads.
package probe
