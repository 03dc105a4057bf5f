package release

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
)

// MemoTTL bounds how long a pass trusts what an earlier pass read or
// checked: the Helm release, a successful validation render and every
// rendered object's drift check. It is shorter than the resync interval (5
// min), so each periodic resync reads and checks everything again; that is
// how drift in objects without a watch is still repaired.
const MemoTTL = 4 * time.Minute

// Memo remembers, for one operator process, what the last passes established
// about the control-plane release, so a pass over an unchanged installation
// renders nothing, reads no Helm storage and dry-runs no apply. Measured on
// bench-operator: those were most of a no-op reconcile's requests and time.
// A new generation of the installation forgets everything.
type Memo struct {
	Clock clock.PassiveClock
	// TTL, when set, replaces MemoTTL; it must stay below the resync
	// interval (a test injects a short pair).
	TTL func() time.Duration

	mu         sync.Mutex
	generation map[string]int64
	releases   map[string]memoRelease
	validated  map[string]time.Time
	checked    map[string]memoCheck
	manifests  map[string]memoManifest
}

// memoManifest is a release manifest parsed once, by its content's hash.
type memoManifest struct {
	sum  [sha256.Size]byte
	objs []*unstructured.Unstructured
}

type memoRelease struct {
	rel *helm.Release
	at  time.Time
}

// memoCheck is one rendered object found in sync: the desired object's hash
// and, for a watched kind, the cached resourceVersion at the check.
type memoCheck struct {
	hash, rv string
	at       time.Time
}

// NewMemo returns an empty memo on clk.
func NewMemo(clk clock.PassiveClock) *Memo { return &Memo{Clock: clk} }

// Observe forgets everything when an installation's generation differs from
// the one last observed (a spec change, a pause or a resume).
func (m *Memo) Observe(uid string, generation int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.generation == nil {
		m.generation = map[string]int64{}
	}
	if g, ok := m.generation[uid]; ok && g == generation {
		return
	}
	m.generation[uid] = generation
	m.releases, m.validated, m.checked = nil, nil, nil
}

func (m *Memo) fresh(at time.Time) bool {
	age := m.Clock.Since(at)
	return age >= 0 && age < m.ttl()
}

func (m *Memo) ttl() time.Duration {
	if m.TTL != nil {
		return m.TTL()
	}
	return MemoTTL
}

func (m *Memo) release(key string) (*helm.Release, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.releases[key]
	if !ok || !m.fresh(e.at) {
		return nil, false
	}
	return e.rel, true
}

func (m *Memo) setRelease(key string, rel *helm.Release) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.releases == nil {
		m.releases = map[string]memoRelease{}
	}
	m.releases[key] = memoRelease{rel: rel, at: m.Clock.Now()}
}

func (m *Memo) forgetRelease(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.releases, key)
}

func (m *Memo) wasValidated(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.validated[key]
	return ok && m.fresh(at)
}

func (m *Memo) setValidated(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.validated == nil {
		m.validated = map[string]time.Time{}
	}
	m.validated[key] = m.Clock.Now()
}

// inSync reports whether obj was found in sync within MemoTTL with the same
// desired content and, for a watched kind, the same cached resourceVersion.
func (m *Memo) inSync(key, hash, rv string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.checked[key]
	return ok && c.hash == hash && c.rv == rv && m.fresh(c.at)
}

func (m *Memo) setInSync(key, hash, rv string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checked == nil {
		m.checked = map[string]memoCheck{}
	}
	m.checked[key] = memoCheck{hash: hash, rv: rv, at: m.Clock.Now()}
}

func (m *Memo) manifest(key string, sum [sha256.Size]byte) ([]*unstructured.Unstructured, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.manifests[key]
	return e.objs, ok && e.sum == sum
}

// setManifest keeps one parsed manifest per release (the latest revision read).
func (m *Memo) setManifest(key string, sum [sha256.Size]byte, objs []*unstructured.Unstructured) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.manifests == nil {
		m.manifests = map[string]memoManifest{}
	}
	m.manifests[key] = memoManifest{sum: sum, objs: objs}
}

func objectHash(u *unstructured.Unstructured) (string, error) {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(b)), nil
}

// MemoHelm answers release reads and validations from the memo. The operator
// is the release's only writer and every write goes through here, so a write
// forgets the release at once; a change made past the operator (helm CLI,
// an edited storage Secret) is read within MemoTTL, or at once after a spec
// change.
type MemoHelm struct {
	HelmClient
	Memo *Memo
}

func releaseKey(namespace, name string) string { return namespace + "/" + name }

// Get reads the release, or returns the one read within MemoTTL.
func (h *MemoHelm) Get(ctx context.Context, namespace, name string) (*helm.Release, error) {
	key := releaseKey(namespace, name)
	if rel, ok := h.Memo.release(key); ok {
		return rel, nil
	}
	rel, err := h.HelmClient.Get(ctx, namespace, name)
	if err == nil {
		h.Memo.setRelease(key, rel)
	}
	return rel, err
}

// Validate renders once per digest (chart and values) and owner; only a
// success is remembered.
func (h *MemoHelm) Validate(ctx context.Context, req helm.InstallRequest) error {
	key := fmt.Sprintf("%s/%s/%s/%s", req.Namespace, req.ReleaseName, req.Digest, req.Owner.UID)
	if req.Digest != "" && h.Memo.wasValidated(key) {
		return nil
	}
	err := h.HelmClient.Validate(ctx, req)
	if err == nil && req.Digest != "" {
		h.Memo.setValidated(key)
	}
	return err
}

// Objects parses a release's manifest once per content: the drift check of
// every pass reads it, and parsing its YAML again each time was a tenth of a
// no-op pass's CPU at bench-operator's large point (profile). Callers get
// their own deep copies, so nothing they do reaches the memo.
func (h *MemoHelm) Objects(rel *helm.Release) ([]*unstructured.Unstructured, error) {
	if rel == nil {
		return nil, nil
	}
	key, sum := releaseKey(rel.Namespace, rel.Name), sha256.Sum256([]byte(rel.Manifest))
	objs, ok := h.Memo.manifest(key, sum)
	if !ok {
		var err error
		if objs, err = h.HelmClient.Objects(rel); err != nil {
			return nil, err
		}
		h.Memo.setManifest(key, sum, objs)
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out, nil
}

func (h *MemoHelm) Install(ctx context.Context, req helm.InstallRequest) (*helm.Release, error) {
	defer h.Memo.forgetRelease(releaseKey(req.Namespace, req.ReleaseName))
	return h.HelmClient.Install(ctx, req)
}

func (h *MemoHelm) Upgrade(ctx context.Context, req helm.InstallRequest) (*helm.Release, error) {
	defer h.Memo.forgetRelease(releaseKey(req.Namespace, req.ReleaseName))
	return h.HelmClient.Upgrade(ctx, req)
}

func (h *MemoHelm) Rollback(ctx context.Context, namespace, name string, toRevision int) (*helm.Release, error) {
	defer h.Memo.forgetRelease(releaseKey(namespace, name))
	return h.HelmClient.Rollback(ctx, namespace, name, toRevision)
}

func (h *MemoHelm) Uninstall(ctx context.Context, namespace, name string) error {
	defer h.Memo.forgetRelease(releaseKey(namespace, name))
	return h.HelmClient.Uninstall(ctx, namespace, name)
}

func (h *MemoHelm) Unlock(ctx context.Context, namespace, name string) (*helm.Release, error) {
	defer h.Memo.forgetRelease(releaseKey(namespace, name))
	return h.HelmClient.Unlock(ctx, namespace, name)
}
