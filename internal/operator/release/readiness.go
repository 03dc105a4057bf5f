package release

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Readiness sums what the rendered Deployments report.
type Readiness struct {
	Seen                           int
	ReadyReplicas, DesiredReplicas int32
	// NotReady names the Deployments not yet fully rolled out and available.
	NotReady []string
}

// ObserveReadiness reads readiness from Deployment status alone: the same
// signal `kubectl rollout status` uses, never a blocking Helm wait.
func ObserveReadiness(deps []appsv1.Deployment) Readiness {
	var r Readiness
	for _, d := range deps {
		r.Seen++
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		r.DesiredReplicas += want
		r.ReadyReplicas += min(d.Status.AvailableReplicas, want)
		if !rolledOut(d, want) {
			r.NotReady = append(r.NotReady, d.Name)
		}
	}
	sort.Strings(r.NotReady)
	return r
}

func rolledOut(d appsv1.Deployment, want int32) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false
	}
	// Pods of the previous template still running (an old injector would
	// still answer admission) mean the rollout is not over.
	if d.Status.Replicas > d.Status.UpdatedReplicas {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
