// Package probe asks the running control plane whether it works as its
// clients reach it: the injector through the API server (a server-side dry-run
// pod) and the identity service through a CSR signed for the operator's own
// ServiceAccount. The operator (cmd/manager) runs these probes before it trusts
// a control plane with workloads. InjectorServingCerts reads the certificate
// each injector pod presents, so a renewal drops the old webhook CA only once
// nothing presents a certificate it signed.
package probe
