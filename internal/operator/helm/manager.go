package helm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

const (
	// DefaultMaxHistory is the number of revisions kept per release.
	DefaultMaxHistory = 5
	// DefaultTimeout bounds hooks (the only thing Helm waits for) and deletions.
	DefaultTimeout = 2 * time.Minute

	storageDriver = "secret"
)

// Option configures a Manager.
type Option func(*Manager)

// WithMaxHistory sets the number of revisions kept per release (<= 0: unlimited).
func WithMaxHistory(n int) Option { return func(m *Manager) { m.maxHistory = n } }

// WithTimeout sets the timeout of hooks.
func WithTimeout(d time.Duration) Option { return func(m *Manager) { m.timeout = d } }

// InstallRequest is the input of Install and Upgrade.
type InstallRequest struct {
	ReleaseName, Namespace string
	Chart                  *Chart
	Values                 map[string]any
	// Digest is stored as the release label DigestLabel (at most 63 characters;
	// empty: no label on Install, label removed on Upgrade).
	Digest string
	// Owner: the post-renderer adds Owner.Labels and a controller ownerReference
	// (controller=true, blockOwnerDeletion=true) to every rendered object,
	// namespaced and cluster-scoped. No ownerReference when Owner.UID is empty.
	Owner Owner
	// CreateNamespace creates Namespace if it does not exist (Install only).
	CreateNamespace bool
}

func (r InstallRequest) validate() error {
	switch {
	case r.ReleaseName == "":
		return errors.New("release name is required")
	case r.Namespace == "":
		return errors.New("namespace is required")
	case r.Chart == nil:
		return errors.New("chart is required")
	case len(r.Digest) > 63:
		return fmt.Errorf("digest %q is longer than 63 characters", r.Digest)
	}
	return nil
}

// Manager runs Helm actions against one cluster. It is safe for concurrent use
// on different releases; calls for one release must be serialised by the
// caller (the controller does it).
type Manager struct {
	clients    *clusterClients
	log        logr.Logger
	maxHistory int
	timeout    time.Duration
}

// NewManager returns a Manager for the cluster of cfg. Releases are stored in
// Secrets in the release namespace, MaxHistory is DefaultMaxHistory and the
// hook timeout DefaultTimeout unless changed by opts. Helm's debug log goes to
// log at V(1).
func NewManager(cfg *rest.Config, log logr.Logger, opts ...Option) *Manager {
	c := rest.CopyConfig(cfg)
	// Helm lists, gets and patches object by object: the client-go defaults
	// (5 QPS) make installs crawl.
	if c.QPS == 0 {
		c.QPS = 50
	}
	if c.Burst == 0 {
		c.Burst = 100
	}
	m := &Manager{
		clients:    &clusterClients{cfg: c},
		log:        log,
		maxHistory: DefaultMaxHistory,
		timeout:    DefaultTimeout,
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// debugLog is Helm's DebugLog, sent to the logger at V(1).
func (m *Manager) debugLog(format string, v ...any) {
	if l := m.log.V(1); l.Enabled() {
		l.Info(strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}

// actionConfig makes a fresh Helm configuration bound to namespace.
func (m *Manager) actionConfig(namespace string) (*action.Configuration, error) {
	getter := &restClientGetter{shared: m.clients, namespace: namespace}
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, storageDriver, m.debugLog); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Namespace = namespace
	}
	cfg.Releases.MaxHistory = m.maxHistory
	return cfg, nil
}

// history returns all stored revisions of a release, nil when there are none.
func history(cfg *action.Configuration, name string) ([]*release.Release, error) {
	h, err := cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading history of release %q: %w", name, err)
	}
	return h, nil
}

func (m *Manager) get(cfg *action.Configuration, name string) (*Release, error) {
	h, err := history(cfg, name)
	if err != nil {
		return nil, err
	}
	return fromHistory(h), nil
}

// Get returns the latest revision of a release, (nil, nil) when no release exists.
func (m *Manager) Get(ctx context.Context, namespace, name string) (*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := m.actionConfig(namespace)
	if err != nil {
		return nil, err
	}
	return m.get(cfg, name)
}

// afterAction reads back the release after an action and wraps the action's
// error. On error the returned Release is the latest stored revision when one
// could be read (e.g. a revision recorded as failed), else nil.
func (m *Manager) afterAction(cfg *action.Configuration, verb, name string, actErr error) (*Release, error) {
	rel, err := m.get(cfg, name)
	if actErr != nil {
		return rel, wrapHelmError(verb, actErr)
	}
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, fmt.Errorf("helm %s: release %q not found after the action", verb, name)
	}
	return rel, nil
}

// begin validates a request and reads the release's latest revision (nil
// when there is none): the common start of Install and Upgrade.
func (m *Manager) begin(verb string, req InstallRequest) (*action.Configuration, *Release, error) {
	if err := req.validate(); err != nil {
		return nil, nil, fmt.Errorf("helm %s: %w", verb, err)
	}
	cfg, err := m.actionConfig(req.Namespace)
	if err != nil {
		return nil, nil, err
	}
	current, err := m.get(cfg, req.ReleaseName)
	if err != nil {
		return nil, nil, err
	}
	return cfg, current, nil
}

// prepare renders the request's chart for the revision in opts through the
// owner post-renderer and checks it (preflight) before anything is recorded.
func (m *Manager) prepare(cfg *action.Configuration, verb string, req InstallRequest, opts chartutil.ReleaseOptions) (*chart.Chart, ownerPostRenderer, error) {
	ch := req.Chart.helmChart()
	post := ownerPostRenderer{owner: req.Owner}
	opts.Name, opts.Namespace = req.ReleaseName, req.Namespace
	if err := m.preflight(cfg, ch, req.Values, opts, post); err != nil {
		return nil, post, fmt.Errorf("helm %s %s/%s: %w", verb, req.Namespace, req.ReleaseName, err)
	}
	return ch, post, nil
}

// Install installs a release. It re-does in place (Helm's Replace) a release
// whose latest revision is failed or uninstalled, e.g. a failed first install.
// It does not wait for resources to become ready (hooks only, with the
// timeout) and never installs CRDs from the chart's crds/ directory.
//
// Errors: ErrRenderFailed (nothing written), ErrPending, ErrReleaseExists
// (latest revision is live: use Upgrade); anything else is transient. On an
// error after the release record was created, the returned Release is the
// recorded (failed) revision.
func (m *Manager) Install(ctx context.Context, req InstallRequest) (*Release, error) {
	cfg, current, err := m.begin("install", req)
	if err != nil {
		return nil, err
	}
	revision := 1
	if current != nil {
		switch {
		case current.Status.IsPending():
			return current, fmt.Errorf("helm install %s/%s: %w (revision %d is %s)",
				req.Namespace, req.ReleaseName, ErrPending, current.Revision, current.Status)
		case current.Status != StatusFailed && current.Status != StatusUninstalled:
			return current, fmt.Errorf("helm install %s/%s: %w (revision %d is %s)",
				req.Namespace, req.ReleaseName, ErrReleaseExists, current.Revision, current.Status)
		}
		revision = current.Revision + 1
	}

	ch, post, err := m.prepare(cfg, "install", req, chartutil.ReleaseOptions{Revision: revision, IsInstall: true})
	if err != nil {
		return nil, err
	}

	act := action.NewInstall(cfg)
	act.ReleaseName = req.ReleaseName
	act.Namespace = req.Namespace
	act.CreateNamespace = req.CreateNamespace
	act.Replace = true
	act.Wait = false
	act.SkipCRDs = true
	act.Timeout = m.timeout
	act.PostRenderer = post
	act.Labels = releaseLabels(req.Digest, req.Owner.Name)
	_, actErr := act.RunWithContext(ctx, ch, req.Values)
	return m.afterAction(cfg, "install", req.ReleaseName, actErr)
}

// Upgrade upgrades a release to req.Chart with exactly req.Values (previous
// values are not reused). It does not wait for readiness, keeps at most
// MaxHistory revisions and does not clean up on failure.
//
// Errors: ErrRenderFailed (no revision written), ErrPending, ErrNotFound;
// anything else is transient. On an error after the new revision was
// recorded, the returned Release is that (failed) revision.
func (m *Manager) Upgrade(ctx context.Context, req InstallRequest) (*Release, error) {
	cfg, current, err := m.begin("upgrade", req)
	if err != nil {
		return nil, err
	}
	if current == nil {
		return nil, fmt.Errorf("helm upgrade %s/%s: %w", req.Namespace, req.ReleaseName, ErrNotFound)
	}
	if current.Status.IsPending() {
		return current, fmt.Errorf("helm upgrade %s/%s: %w (revision %d is %s)",
			req.Namespace, req.ReleaseName, ErrPending, current.Revision, current.Status)
	}

	ch, post, err := m.prepare(cfg, "upgrade", req, chartutil.ReleaseOptions{Revision: current.Revision + 1, IsUpgrade: true})
	if err != nil {
		return nil, err
	}

	act := action.NewUpgrade(cfg)
	act.Namespace = req.Namespace
	act.ResetValues = true
	act.SkipCRDs = true
	act.Wait = false
	act.CleanupOnFail = false
	act.MaxHistory = m.maxHistory
	act.Timeout = m.timeout
	act.PostRenderer = post
	digest := req.Digest
	if digest == "" {
		digest = "null" // Helm's way of removing a label on upgrade
	}
	act.Labels = releaseLabels(digest, req.Owner.Name)
	_, actErr := act.RunWithContext(ctx, req.ReleaseName, ch, req.Values)
	return m.afterAction(cfg, "upgrade", req.ReleaseName, actErr)
}

// Rollback rolls a release back to toRevision (0: the revision before the
// latest one) by recording a new revision with the chart, values, manifest
// and labels (so the digest) of the target revision. It does not wait.
//
// Errors: ErrPending, ErrNotFound; anything else (including a target revision
// that is not in the history) is returned as is.
func (m *Manager) Rollback(ctx context.Context, namespace, name string, toRevision int) (*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := m.actionConfig(namespace)
	if err != nil {
		return nil, err
	}
	current, err := m.get(cfg, name)
	if err != nil {
		return nil, err
	}
	if current == nil {
		return nil, fmt.Errorf("helm rollback %s/%s: %w", namespace, name, ErrNotFound)
	}
	if current.Status.IsPending() {
		return current, fmt.Errorf("helm rollback %s/%s: %w (revision %d is %s)",
			namespace, name, ErrPending, current.Revision, current.Status)
	}
	act := action.NewRollback(cfg)
	act.Version = toRevision
	act.Wait = false
	act.CleanupOnFail = false
	act.MaxHistory = m.maxHistory
	act.Timeout = m.timeout
	actErr := act.Run(name)
	return m.afterAction(cfg, "rollback", name, actErr)
}

// Uninstall deletes the release's objects and its whole history. It is
// idempotent: a release that does not exist is not an error.
func (m *Manager) Uninstall(ctx context.Context, namespace, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := m.actionConfig(namespace)
	if err != nil {
		return err
	}
	h, err := history(cfg, name)
	if err != nil {
		return err
	}
	if len(h) == 0 {
		return nil
	}
	act := action.NewUninstall(cfg)
	act.IgnoreNotFound = true
	act.KeepHistory = false
	act.Wait = false
	act.Timeout = m.timeout
	if _, err := act.Run(name); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return wrapHelmError("uninstall", err)
	}
	return nil
}

// Unlock frees a release whose latest revision is stuck in a pending-* state
// (an operation interrupted by a crash): that revision is marked failed, with
// a description saying it was interrupted, so that Install (Replace), Upgrade
// or Rollback can proceed. A release that is not pending is returned
// unchanged; (nil, nil) when no release exists. The caller must make sure no
// operation is actually running on the release.
func (m *Manager) Unlock(ctx context.Context, namespace, name string) (*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := m.actionConfig(namespace)
	if err != nil {
		return nil, err
	}
	current, err := m.get(cfg, name)
	if err != nil || current == nil {
		return current, err
	}
	if !current.Status.IsPending() {
		return current, nil
	}
	rls, err := cfg.Releases.Get(name, current.Revision)
	if err != nil {
		return nil, wrapHelmError("unlock", err)
	}
	was := rls.Info.Status
	rls.SetStatus(release.StatusFailed, fmt.Sprintf(
		"Release interrupted: revision %d was left in state %q (operation interrupted) and was marked failed by meshkeeper",
		rls.Version, was))
	if err := cfg.Releases.Update(rls); err != nil {
		return nil, wrapHelmError("unlock", err)
	}
	m.log.Info("Unlocked Helm release stuck in a pending state",
		"namespace", namespace, "release", name, "revision", rls.Version, "previousStatus", string(was))
	return m.get(cfg, name)
}

// Objects parses rel.Manifest into objects, in manifest order, as rendered
// (namespaces are not defaulted).
func (m *Manager) Objects(rel *Release) ([]*unstructured.Unstructured, error) {
	if rel == nil {
		return nil, nil
	}
	objs, err := parseManifest(strings.NewReader(rel.Manifest))
	if err != nil {
		return nil, fmt.Errorf("manifest of release %s/%s revision %d: %w", rel.Namespace, rel.Name, rel.Revision, err)
	}
	return objs, nil
}

// capabilities discovers the cluster's version and API versions, as Helm
// does, fresh for each install or upgrade.
func (m *Manager) capabilities() (*chartutil.Capabilities, error) {
	dc, err := m.clients.discoveryClient()
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	dc.Invalidate()
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("server version: %w", err)
	}
	// GetVersionSet tolerates groups that failed discovery (orphaned API
	// services) and returns an error only when discovery failed as a whole.
	apiVersions, err := action.GetVersionSet(dc)
	if err != nil {
		return nil, fmt.Errorf("server API versions: %w", err)
	}
	return &chartutil.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: chartutil.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}, nil
}

// releaseLabels are the labels stored on a release revision: the digest and
// the owner's name, each only when set.
func releaseLabels(digest, owner string) map[string]string {
	labels := map[string]string{}
	if digest != "" {
		labels[DigestLabel] = digest
	}
	if owner != "" {
		labels[OwnerLabel] = owner
	}
	return labels
}
