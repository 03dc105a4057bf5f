package release

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func dep(name string, gen, observed int64, want, updated, available int32, availableCond corev1.ConditionStatus) appsv1.Deployment {
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(want)}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available}
	if availableCond != "" {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: availableCond}}
	}
	return d
}

func TestObserveReadiness(t *testing.T) {
	cases := []struct {
		name     string
		deps     []appsv1.Deployment
		ready    int32
		desired  int32
		notReady []string
	}{
		{"all available", []appsv1.Deployment{dep("a", 1, 1, 1, 1, 1, corev1.ConditionTrue), dep("b", 2, 2, 2, 2, 2, corev1.ConditionTrue)}, 3, 3, nil},
		{"new generation not observed", []appsv1.Deployment{dep("a", 2, 1, 1, 1, 1, corev1.ConditionTrue)}, 1, 1, []string{"a"}},
		{"rollout in progress", []appsv1.Deployment{dep("a", 1, 1, 2, 1, 2, corev1.ConditionTrue)}, 2, 2, []string{"a"}},
		{"old pods still running", []appsv1.Deployment{func() appsv1.Deployment {
			d := dep("a", 2, 2, 1, 1, 1, corev1.ConditionTrue)
			d.Status.Replicas = 2
			return d
		}()}, 1, 1, []string{"a"}},
		{"unavailable", []appsv1.Deployment{dep("b", 1, 1, 1, 1, 0, corev1.ConditionFalse), dep("a", 1, 1, 1, 1, 1, "")}, 1, 2, []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ObserveReadiness(tc.deps)
			if r.ReadyReplicas != tc.ready || r.DesiredReplicas != tc.desired || !reflect.DeepEqual(r.NotReady, tc.notReady) || r.Seen != len(tc.deps) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}
