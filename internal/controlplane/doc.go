// Package controlplane groups the packages of the mesh control-plane program,
// cmd/controlplane: the identity CA (identity), endpoint discovery (discovery)
// and the proxy injector webhook (inject). The operator installs this program;
// it does not import these packages.
package controlplane
