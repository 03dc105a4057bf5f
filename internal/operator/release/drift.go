package release

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DriftFieldOwner is the server-side-apply field manager of drift repairs.
const DriftFieldOwner = "meshkeeper-drift"

// ApplyRepairer restores rendered objects with server-side apply. It first
// applies as a dry run and writes only when the result differs from the live
// object, so an untouched control plane costs no writes and no watch events.
//
// With a Memo it skips an object found in sync within MemoTTL whose desired
// content is the same and, for a Deployment (watched: its events start a
// pass), whose cached resourceVersion is unchanged: an edited Deployment is
// repaired at once, any other object at the next resync.
type ApplyRepairer struct {
	Client client.Client
	Memo   *Memo
}

// Repair re-asserts every object of the release manifest; it returns the
// objects it had to restore.
func (r *ApplyRepairer) Repair(ctx context.Context, objs []*unstructured.Unstructured) ([]string, error) {
	var repaired []string
	for _, desired := range objs {
		changed, err := r.repairRemembered(ctx, desired)
		if err != nil {
			return repaired, fmt.Errorf("repair %s %s: %w", desired.GetKind(), client.ObjectKeyFromObject(desired), err)
		}
		if changed {
			repaired = append(repaired, desired.GetKind()+"/"+desired.GetName())
		}
	}
	return repaired, nil
}

func (r *ApplyRepairer) repairOne(ctx context.Context, desired *unstructured.Unstructured) (bool, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
		return true, r.apply(ctx, desired.DeepCopy())
	case err != nil:
		return false, err
	}
	preview := desired.DeepCopy()
	if err := r.apply(ctx, preview, client.DryRunAll); err != nil {
		return false, err
	}
	if equality.Semantic.DeepEqual(comparable(preview), comparable(live)) {
		return false, nil
	}
	return true, r.apply(ctx, desired.DeepCopy())
}

func (r *ApplyRepairer) apply(ctx context.Context, obj *unstructured.Unstructured, opts ...client.ApplyOption) error {
	opts = append(opts, client.FieldOwner(DriftFieldOwner), client.ForceOwnership)
	ac := client.ApplyConfigurationFromUnstructured(obj)
	if err := r.Client.Apply(ctx, ac, opts...); err != nil {
		return err
	}
	return nil
}

// comparable drops the bookkeeping that changes without the object changing.
func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	if md, ok := c["metadata"].(map[string]any); ok {
		for _, k := range []string{"managedFields", "resourceVersion", "generation"} {
			delete(md, k)
		}
	}
	return c
}

// repairRemembered runs repairOne unless the memo says the object is in sync.
func (r *ApplyRepairer) repairRemembered(ctx context.Context, desired *unstructured.Unstructured) (bool, error) {
	if r.Memo == nil {
		return r.repairOne(ctx, desired)
	}
	hash, err := objectHash(desired)
	if err != nil {
		return false, err
	}
	key := desired.GroupVersionKind().String() + "/" + desired.GetNamespace() + "/" + desired.GetName()
	rv := r.watchedVersion(ctx, desired)
	if r.Memo.inSync(key, hash, rv) {
		return false, nil
	}
	changed, err := r.repairOne(ctx, desired)
	if err == nil && !changed {
		r.Memo.setInSync(key, hash, rv)
	}
	return changed, err
}

// watchedVersion is a rendered Deployment's resourceVersion in the cache ("" for
// other kinds, or when the cache does not hold it).
func (r *ApplyRepairer) watchedVersion(ctx context.Context, desired *unstructured.Unstructured) string {
	if desired.GroupVersionKind() != appsv1.SchemeGroupVersion.WithKind("Deployment") {
		return ""
	}
	var d appsv1.Deployment
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), &d); err != nil {
		return ""
	}
	return d.ResourceVersion
}
