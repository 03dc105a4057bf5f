// Package e2e holds the end-to-end tests (build tag e2e, `make test-e2e`): they
// start the local cluster unless KUBECONFIG is given, build and import every
// image, deploy the operator as users do and check what users see. On failure
// the logs of every component are kept in a directory the run prints.
package e2e
