package lifecycle

import (
	"context"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/conditions"
	"github.com/meshkeeper/meshkeeper/internal/operator/opmetrics"
)

// Paused records a halted upgrade while spec.paused stops everything else:
// the machine clears the step clock, so the pause never eats a deadline. It
// acts on nothing.
func (r *Reconciler) Paused(ctx context.Context, mi *meshv1.MeshInstallation) (err error) {
	verdictBefore := opmetrics.LastVerdict(mi)
	defer func() { r.Metrics.Observe(mi, verdictBefore, err) }()
	setConditions(mi, conditions.Observation{Generation: mi.Generation, Paused: true, Previous: mi.Status.Conditions})
	if mi.Status.Upgrade == nil {
		return nil
	}
	cl, err := r.observeCluster(ctx)
	if err != nil {
		return err
	}
	step, err := r.Upgrade.Step(ctx, mi, cl.Cluster)
	if err != nil {
		return err
	}
	r.Upgrade.Record(mi, step)
	return nil
}
