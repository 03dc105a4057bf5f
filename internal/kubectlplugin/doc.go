// Package kubectlplugin is the logic of kubectl-meshkeeper, the day-2 tool of
// a meshkeeper mesh: check (pre-install and installed), status, stat,
// upgrade and trust. It reads the cluster with the user's kubeconfig and
// reads proxies' admin metrics through the API server's pods/proxy
// subresource, so no port-forward is needed.
//
// Layout: gather*.go read the cluster into Facts (behind small interfaces,
// faked in tests); check*.go are pure verdicts over Facts; stat.go and
// status.go compute what is shown; render.go prints it (golden-tested);
// cli.go wires the commands.
package kubectlplugin
