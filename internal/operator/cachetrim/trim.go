// Package cachetrim trims the objects the operator's informers keep to the
// fields the operator reads. The cache holds every pod and ReplicaSet of the
// cluster; their specs (volumes, env, probes, resources, the whole pod
// template of a ReplicaSet) and container state messages are most of their
// size and nothing here reads them. A trimmed object must never be written
// back: the operator updates no pod or ReplicaSet (it evicts pods by name and
// patches workloads, which are not trimmed).
package cachetrim

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Transform is the cache's transform for every kind: managed fields are
// dropped from all objects, and pods and ReplicaSets are trimmed.
func Transform(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	switch o := in.(type) {
	case *corev1.Pod:
		Pod(o)
	case *appsv1.ReplicaSet:
		ReplicaSet(o)
	}
	return in, nil
}

// Pod keeps what the operator's decisions read: metadata (labels,
// annotations, owners, deletion), whether the pod runs on the host network,
// its containers' names and images (the proxy is found by name), and the
// phase, IPs, conditions, container readiness and failed exits.
func Pod(p *corev1.Pod) {
	p.Spec = corev1.PodSpec{
		HostNetwork:        p.Spec.HostNetwork,
		NodeName:           p.Spec.NodeName,
		ServiceAccountName: p.Spec.ServiceAccountName,
		InitContainers:     containers(p.Spec.InitContainers),
		Containers:         containers(p.Spec.Containers),
	}
	p.Status = corev1.PodStatus{
		Phase:                 p.Status.Phase,
		Conditions:            conditions(p.Status.Conditions),
		PodIP:                 p.Status.PodIP,
		PodIPs:                p.Status.PodIPs,
		StartTime:             p.Status.StartTime,
		InitContainerStatuses: statuses(p.Status.InitContainerStatuses),
		ContainerStatuses:     statuses(p.Status.ContainerStatuses),
	}
}

// ReplicaSet keeps the metadata (its owner leads a pod to its Deployment),
// the replica count and selector; the pod template is dropped.
func ReplicaSet(rs *appsv1.ReplicaSet) {
	rs.Spec.Template = corev1.PodTemplateSpec{}
	rs.Status.Conditions = nil
}

func containers(in []corev1.Container) []corev1.Container {
	if in == nil {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
	}
	return out
}

func statuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, s := range in {
		out[i] = corev1.ContainerStatus{Name: s.Name, Ready: s.Ready, Started: s.Started, Image: s.Image, RestartCount: s.RestartCount,
			State: failedExit(s.State), LastTerminationState: failedExit(s.LastTerminationState)}
	}
	return out
}

// failedExit keeps a state only when it is a non-zero exit, and only its
// code: a failed CNI-mode redirect check is read from it
// (dataplane.RedirectMissing); a successful exit or a running or waiting
// state is dropped.
func failedExit(st corev1.ContainerState) corev1.ContainerState {
	if t := st.Terminated; t != nil && t.ExitCode != 0 {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: t.ExitCode}}
	}
	return corev1.ContainerState{}
}

func conditions(in []corev1.PodCondition) []corev1.PodCondition {
	if in == nil {
		return nil
	}
	out := make([]corev1.PodCondition, len(in))
	for i, c := range in {
		out[i] = corev1.PodCondition{Type: c.Type, Status: c.Status}
	}
	return out
}
