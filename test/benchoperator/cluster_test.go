package main

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The point's process names the pods another process created: the layout
// must place exactly sz.Pods pods, each once, in meshed namespaces only.
func TestPodKeysNameEveryPodOnce(t *testing.T) {
	for _, sz := range sizes {
		keys := podKeys(sz)
		if len(keys) != sz.Pods {
			t.Errorf("%s: %d pod keys, want %d", sz.Name, len(keys), sz.Pods)
		}
		meshedNS := map[string]bool{}
		for i := range sz.Namespaces {
			if meshed(i) {
				meshedNS[nsName(i)] = true
			}
		}
		seen := map[client.ObjectKey]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("%s: pod %s named twice", sz.Name, k)
			}
			seen[k] = true
			if !meshedNS[k.Namespace] {
				t.Fatalf("%s: pod %s in a namespace that is not meshed", sz.Name, k)
			}
		}
		replicas := 0
		for _, d := range layout(sz) {
			replicas += d.Replicas
		}
		if deps := layout(sz); len(deps) != sz.Deployments || replicas != sz.Pods {
			t.Errorf("%s: %d Deployments with %d replicas, want %d with %d", sz.Name, len(deps), replicas, sz.Deployments, sz.Pods)
		}
	}
}
