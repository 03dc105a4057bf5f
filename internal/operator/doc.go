// Package operator groups the packages of the operator, cmd/manager: the
// reconcile phases (lifecycle), the three state machines (release, rotation,
// upgrade), trust material (trust), conditions, the Helm SDK wrapper (helm)
// and the embedded control-plane charts (charts) with their version table
// (versions), the control-plane probes (probe), what it reads of proxies
// (proxymetrics) and workloads (workload, dataplane), which installation owns
// the mesh (ownership), and the error types that decide requeues
// (reconcileerr). Nothing here is imported by the control-plane program
// or the proxy; what several programs share lives in internal/contract,
// internal/pki and internal/buildinfo.
package operator
