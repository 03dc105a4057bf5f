package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// PodEventWindow is how long a pod event waits before its pass starts, so
// the events of that window share one pass: the delaying queue keeps one
// entry per installation, at the earliest time asked. Without it, 50 pod
// changes per second kept a pass running back to back (bench-operator);
// with it, pod churn starts at most a few passes per second, and a change is
// seen within the window plus one pass.
const PodEventWindow = 250 * time.Millisecond

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// coalesced enqueues the requests of reqs window after each event.
func coalesced(window time.Duration, reqs handler.MapFunc) handler.EventHandler {
	add := func(ctx context.Context, obj client.Object, q queue) {
		for _, req := range reqs(ctx, obj) {
			q.AddAfter(req, window)
		}
	}
	return handler.Funcs{
		CreateFunc:  func(ctx context.Context, e event.CreateEvent, q queue) { add(ctx, e.Object, q) },
		UpdateFunc:  func(ctx context.Context, e event.UpdateEvent, q queue) { add(ctx, e.ObjectNew, q) },
		DeleteFunc:  func(ctx context.Context, e event.DeleteEvent, q queue) { add(ctx, e.Object, q) },
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q queue) { add(ctx, e.Object, q) },
	}
}
