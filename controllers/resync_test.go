package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/lifecycle"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
)

// injectedResync lets a test shorten the resync interval, and the memo's TTL
// with it, while the suite's manager runs; zero keeps the defaults.
type injectedResync struct{ d atomic.Int64 }

func (r *injectedResync) interval() time.Duration {
	if d := time.Duration(r.d.Load()); d > 0 {
		return d
	}
	return lifecycle.ResyncInterval
}

// memoTTL stays below the interval, as MemoTTL does below ResyncInterval.
func (r *injectedResync) memoTTL() time.Duration {
	if d := time.Duration(r.d.Load()); d > 0 {
		return d * 4 / 5
	}
	return release.MemoTTL
}

func (r *injectedResync) set(t *testing.T, d time.Duration) {
	r.d.Store(int64(d))
	t.Cleanup(func() { r.d.Store(0) })
}

var resync = &injectedResync{}

// A watched rendered object (a Deployment) that drifts is repaired at once; a
// rendered object without a watch (a Service) by the periodic resync, within
// its interval (injected short here; 5 minutes in production). Each pass in
// between trusts the memo and does not look at the Service.
func TestDriftIsRepairedAtOnceWhenWatchedAndAtResyncOtherwise(t *testing.T) {
	ctx := context.Background()
	installReady(t, "resync", "mk-resync")

	// Watched: its event starts a pass, which sees the changed resourceVersion.
	var dep appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-resync", Name: "meshkeeper-injector"}, &dep); err != nil {
		t.Fatal(err)
	}
	dep.Spec.Replicas = ptr.To[int32](0)
	if err := k8s.Update(ctx, &dep); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "watched Deployment restored at once (well inside the 5-minute resync)", 20*time.Second, func() error {
		var d appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(&dep), &d); err != nil {
			return err
		}
		if *d.Spec.Replicas != 1 {
			return fmt.Errorf("replicas %d", *d.Spec.Replicas)
		}
		return nil
	})

	// Unwatched: only a resync looks again. Shorten the interval and start a
	// pass (an annotation: no new generation, so the memo is kept) so the
	// next requeue is due within it.
	const interval = 3 * time.Second
	resync.set(t, interval)
	mi := getInstallation(t, "resync")
	patch := client.MergeFrom(mi.DeepCopy())
	metav1.SetMetaDataAnnotation(&mi.ObjectMeta, "test.meshkeeper.io/poke", time.Now().String())
	if err := k8s.Patch(ctx, mi, patch); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "mk-resync", Name: "meshkeeper-discovery"}}
	if err := k8s.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	testsupport.Eventually(t, "unwatched Service recreated by a resync", 3*interval, func() error {
		return k8s.Get(ctx, client.ObjectKeyFromObject(svc), &corev1.Service{})
	})
	t.Logf("Service recreated %s after its deletion (resync interval %s)", time.Since(deleted).Round(time.Millisecond), interval)
	markDeploymentsAvailable(t, "mk-resync") // nothing here runs the restored Deployment
	eventually(t, "Ready again", conditionIs("resync", meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
}
