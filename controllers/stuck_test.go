package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// barePod creates a running pod with no controller, so no restart can
// replace it; meshed runs the proxy container, otherwise it only carries the
// proxy-version label (a user's copy).
func barePod(t *testing.T, ns, name string, meshed bool) types.NamespacedName {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}
	if meshed {
		spec = injected(spec)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels: map[string]string{contract.ProxyVersionLabel: "0.1.0"}}, Spec: spec}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.10.90"}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	// Pods of this API server are seen by every later test's rotation.
	t.Cleanup(func() {
		_ = k8s.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, client.GracePeriodSeconds(0))
		proxies.freeze(key, false)
		proxies.block(key, false)
	})
	return key
}

func shortConvergence(t *testing.T, name string, d time.Duration) {
	t.Helper()
	mi := getInstallation(t, name)
	patch := client.MergeFrom(mi.DeepCopy())
	mi.Spec.Trust.Rotation = &meshv1.RotationSpec{ConvergenceTimeout: &metav1.Duration{Duration: d}}
	if err := k8s.Patch(context.Background(), mi, patch); err != nil {
		t.Fatal(err)
	}
}

// eventNaming checks for an event of reason about an installation whose note names every pod.
func eventNaming(installation, reason, eventType string, pods ...string) func() error {
	return func() error {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == installation && e.Reason == reason && e.Type == eventType &&
				!slices.ContainsFunc(pods, func(p string) bool { return !strings.Contains(e.Note, p) }) {
				return nil
			}
		}
		return fmt.Errorf("no %s event %s for %s naming %v", eventType, reason, installation, pods)
	}
}

// TestStuckRotationIsReportedThenCompletesWhenThePodsAreExcludedOrDeleted:
// a bare meshed pod whose proxy never takes the new anchor, and one whose
// admin port cannot be read, hold a rotation. Past convergenceTimeout they
// are named in status and a Warning event and TrustReady turns
// False/RotationStuck; excluding one and deleting the other lets the
// rotation complete to Promote.
func TestStuckRotationIsReportedThenCompletesWhenThePodsAreExcludedOrDeleted(t *testing.T) {
	ctx := context.Background()
	const name = "stuck"
	old := installReady(t, name, "mk-stuck").Status.Trust.Anchor.Fingerprint
	shortConvergence(t, name, 2*time.Second)
	frozen := barePod(t, "stuck-app", "bare", true)
	proxies.Scrape(ctx, []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: frozen.Namespace, Name: frozen.Name},
		Spec: injected(corev1.PodSpec{})}})
	proxies.freeze(frozen, true)
	blocked := barePod(t, "stuck-app", "blocked", true)
	proxies.block(blocked, true)
	annotate(t, name, meshv1.RotateAnchorAnnotation, "now")

	eventually(t, "stuck pods named in status and TrustReady False/RotationStuck", func() error {
		mi := getInstallation(t, name)
		r := mi.Status.Trust.Rotation
		if r == nil || r.Phase != "AwaitBundle" || r.StuckCount != 2 || !slices.Equal(r.Stuck, []string{frozen.String(), blocked.String()}) {
			return fmt.Errorf("rotation status %+v", r)
		}
		c := meta.FindStatusCondition(mi.Status.Conditions, meshv1.ConditionTrustReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != meshv1.ReasonRotationStuck || !strings.Contains(c.Message, frozen.String()) {
			return fmt.Errorf("TrustReady %+v", c)
		}
		return nil
	})
	eventually(t, "Warning event names the stuck pods", eventNaming(name, meshv1.ReasonRotationStuck, "Warning", frozen.String(), blocked.String()))

	pod := &corev1.Pod{}
	if err := k8s.Get(ctx, frozen, pod); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(pod.DeepCopy())
	pod.Annotations = map[string]string{contract.RotationExcludeAnnotation: "true"}
	if err := k8s.Patch(ctx, pod, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "excluded pod reported, the other still stuck", func() error {
		r := getInstallation(t, name).Status.Trust.Rotation
		if r == nil || !slices.Equal(r.Excluded, []string{frozen.String()}) || !slices.Equal(r.Stuck, []string{blocked.String()}) {
			return fmt.Errorf("rotation status %+v", r)
		}
		return nil
	})
	eventually(t, "Warning event names the excluded pod", eventNaming(name, "ProxiesExcluded", "Warning", frozen.String()))
	if err := k8s.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: blocked.Namespace, Name: blocked.Name}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rotation completed", rotationDone(name, old))
	assertRotatedTo(t, "mk-stuck", getInstallation(t, name).Status.Trust.LastRotation.NewAnchor, "stuck-app")
	eventually(t, "TrustReady back to True", conditionIs(name, meshv1.ConditionTrustReady, metav1.ConditionTrue, meshv1.ReasonReady))
}

// TestRotationDoesNotWaitForAPodThatOnlyCarriesTheProxyLabel: a pod with the
// proxy-version label but no proxy (nothing answers on its admin port) is
// not a proxy: the rotation completes without it.
func TestRotationDoesNotWaitForAPodThatOnlyCarriesTheProxyLabel(t *testing.T) {
	const name = "labelonly"
	old := installReady(t, name, "mk-labelonly").Status.Trust.Anchor.Fingerprint
	shortConvergence(t, name, 2*time.Second)
	copied := barePod(t, "labelonly-app", "copied", false)
	meshedDeployment(t, "labelonly-app", "web")
	annotate(t, name, meshv1.RotateAnchorAnnotation, "now")
	eventually(t, "rotation completed", func() error {
		if r := getInstallation(t, name).Status.Trust.Rotation; r != nil && slices.Contains(r.Lagging, copied.String()) {
			return fmt.Errorf("rotation waits on %s, which runs no proxy: %s", copied, r.Message)
		}
		return rotationDone(name, old)()
	})
}
