package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

// seenVersions remembers, per installation, the resourceVersion this process
// last wrote or read past the cache.
type seenVersions struct {
	mu sync.Mutex
	rv map[types.UID]string
}

func (s *seenVersions) is(uid types.UID, rv string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv[uid] == rv
}

func (s *seenVersions) set(obj client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rv == nil {
		s.rv = map[types.UID]string{}
	}
	s.rv[obj.GetUID()] = obj.GetResourceVersion()
}

// current returns the installation as the operator's last write left it. The
// cache lags that write by a watch event, and a pass that starts on the older
// copy would decide from stale state machines (an upgrade step taken twice,
// for one). No test has shown that race: the envtest failure first blamed on
// it had another cause (an upgrade wave taking a workload between a pod's
// deletion and its replacement for finished). This is protection, not a
// fix. The cached copy is used when its resourceVersion is the one last
// written or read here; otherwise the installation is read once past the
// cache. An unchanged installation costs no request.
func (r *MeshInstallationReconciler) current(ctx context.Context, key client.ObjectKey) (*meshv1.MeshInstallation, error) {
	mi := &meshv1.MeshInstallation{}
	if err := r.Get(ctx, key, mi); err != nil {
		return nil, err
	}
	if r.seen.is(mi.UID, mi.ResourceVersion) {
		return mi, nil
	}
	if err := r.Lifecycle.APIReader.Get(ctx, key, mi); err != nil {
		return nil, err
	}
	r.seen.set(mi)
	return mi, nil
}
