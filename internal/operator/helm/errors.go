package helm

import (
	"errors"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/storage/driver"
)

var (
	// ErrRenderFailed means the chart could not be rendered with the given values
	// (template error, `fail`/`required`, values schema violation, rendered
	// output that is not valid YAML or not a Kubernetes object, post-renderer
	// error). Retrying with the same chart and values fails the same way: it is a
	// terminal error until the input changes. Install and Upgrade return it
	// before anything is written, so no release or revision is left behind.
	ErrRenderFailed = errors.New("chart render failed")

	// ErrPending means the latest revision of the release is in a pending-*
	// state: another operation is running, or one was interrupted (operator
	// crash). When no other operation can be running (calls for one release are
	// serialised by the caller), call Manager.Unlock and retry.
	ErrPending = errors.New("release is locked by a pending operation")

	// ErrNotFound means the release has no revision in storage (Upgrade,
	// Rollback and Unlock need one).
	ErrNotFound = errors.New("release not found")

	// ErrReleaseExists means Install was called for a release whose latest
	// revision is live (deployed, superseded or uninstalling): use Upgrade.
	// Install only re-does a release whose latest revision is failed or
	// uninstalled.
	ErrReleaseExists = errors.New("release already exists")
)

// helmPendingMsg is the text of Helm's unexported errPending
// (pkg/action/action.go); Helm gives no other way to recognise it.
const helmPendingMsg = "another operation (install/upgrade/rollback) is in progress"

// renderError wraps err as ErrRenderFailed.
func renderError(err error) error {
	return fmt.Errorf("%w: %w", ErrRenderFailed, err)
}

// wrapHelmError maps the errors of Helm actions to the package's typed errors,
// keeping the original error in the chain.
func wrapHelmError(verb string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, ErrRenderFailed), errors.Is(err, ErrPending),
		errors.Is(err, ErrNotFound), errors.Is(err, ErrReleaseExists):
		return fmt.Errorf("helm %s: %w", verb, err)
	case strings.Contains(err.Error(), helmPendingMsg):
		return fmt.Errorf("helm %s: %w: %w", verb, ErrPending, err)
	case errors.Is(err, driver.ErrReleaseNotFound), errors.Is(err, driver.ErrNoDeployedReleases):
		return fmt.Errorf("helm %s: %w: %w", verb, ErrNotFound, err)
	}
	return fmt.Errorf("helm %s: %w", verb, err)
}
