// Package helm is the only package of meshkeeper that talks to the Helm SDK.
//
// It installs, upgrades, rolls back, unlocks and uninstalls releases of charts
// embedded in the operator binary, and reports the state of a release with
// types of its own (Release, Status) so that no Helm type leaks into the rest
// of the operator.
//
// Design, after fluxcd/helm-controller (internal/action) and sail-operator
// (pkg/helm):
//   - one Manager per operator, built from a *rest.Config; an in-memory
//     RESTClientGetter (no kubeconfig file) shares one memory-cached discovery
//     client and one deferred REST mapper between calls, and a fresh
//     action.Configuration is made per call, bound to the release namespace;
//   - release records are stored in Secrets (driver "secret"), history is
//     capped (MaxHistory, default 5), CRDs are never installed by Helm and
//     nothing waits for readiness (hooks only, with a timeout);
//   - a post-renderer labels every rendered object with Owner.Labels and sets
//     a controller ownerReference to Owner;
//   - every Install/Upgrade first renders the chart in memory (a pre-flight);
//     a chart or values that do not render are reported as ErrRenderFailed
//     before Helm touches the cluster or its release storage, so such a
//     failure never leaves a release (or a new revision) behind;
//   - Helm's debug log goes to the injected logr.Logger at V(1).
//
// Errors: see ErrRenderFailed, ErrPending, ErrNotFound and ErrReleaseExists.
// Any other error returned by the Manager is to be treated as transient
// (API server unreachable, conflicts, admission rejections...).
package helm
