package rotation

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
)

// trial runs the pass on a copy of mi with the trust objects read from
// informers (trust.Cached) and every write refused. It keeps the outcome only
// when the pass was a steady one that wrote nothing, emitted no event, failed
// nowhere and neither found nor started a rotation: then the cached reads
// decided nothing but the status, and mi takes the copy's status. Anything
// else is thrown away and reported as not ok, and the caller runs the pass
// on reads past the cache, exactly as without informers. A lagging cache can
// so delay a repair by a pass, never cause a write, and a rotation (whose
// every step must see the latest anchors) never runs on it.
func (r *Runner) trial(ctx context.Context, mi *meshv1.MeshInstallation) (*Outcome, bool) {
	cached := r.Trust.Cached
	if mi.Status.Trust.Rotation != nil || !cached.Covers(mi.Spec.ControlPlane.Namespace) {
		return nil, false
	}
	m := *r.Trust
	m.APIReader, m.Client, m.Cached = cached.Reader(m.APIReader), trust.RefuseWrites(m.Client), nil
	events := &countingRecorder{}
	tr := *r
	tr.Trust, tr.Client, tr.Recorder = &m, trust.RefuseWrites(r.Client), events
	copied := mi.DeepCopy()
	out, err := tr.reconcile(ctx, copied)
	if err != nil || out == nil || events.n > 0 || copied.Status.Trust.Rotation != nil || out.State.Next != nil {
		return nil, false
	}
	mi.Status = copied.Status
	return out, true
}

// countingRecorder counts the events a trial would have emitted.
type countingRecorder struct{ n int }

func (c *countingRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {
	c.n++
}
