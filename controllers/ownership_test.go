package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// meshSnapshot is what a second installation must never change of the first.
type meshSnapshot struct {
	anchor, issuer string
	bundles        map[string]string // namespace → bundle PEM
	revision       int
	status         string
}

func snapshotMesh(t *testing.T, ns string, bundleNamespaces ...string) meshSnapshot {
	t.Helper()
	snap := meshSnapshot{
		anchor:  pki.Fingerprint(secretKeyPair(t, ns, trust.AnchorSecret).Cert),
		issuer:  pki.Fingerprint(secretKeyPair(t, ns, trust.IssuerSecret).Cert),
		bundles: map[string]string{},
	}
	for _, bns := range append([]string{ns}, bundleNamespaces...) {
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: bns, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
			t.Fatalf("bundle in %s: %v", bns, err)
		}
		snap.bundles[bns] = cm.Data[contract.TrustRootsKey] + " owner=" + cm.Labels[contract.InstallationLabel]
	}
	snap.revision, snap.status = latestRevision(t, ns)
	return snap
}

func (s meshSnapshot) diff(other meshSnapshot) error {
	switch {
	case s.anchor != other.anchor:
		return fmt.Errorf("anchor swapped: %s → %s", s.anchor, other.anchor)
	case s.issuer != other.issuer:
		return fmt.Errorf("issuer replaced: %s → %s", s.issuer, other.issuer)
	case s.revision != other.revision || s.status != other.status:
		return fmt.Errorf("release moved: revision %d (%s) → %d (%s)", s.revision, s.status, other.revision, other.status)
	}
	for ns, b := range s.bundles {
		if other.bundles[ns] != b {
			return fmt.Errorf("bundle in %s changed:\n%s\n→\n%s", ns, b, other.bundles[ns])
		}
	}
	return nil
}

func TestSecondInstallationIsRefusedAndItsDeletionRemovesNothing(t *testing.T) {
	ctx := context.Background()
	installReady(t, "first", "mk-first")
	before := snapshotMesh(t, "mk-first", "default")

	// mesh2 of the issue: default spec, so the same control-plane namespace;
	// and a third in a namespace of its own.
	for _, mi := range []*meshv1.MeshInstallation{newInstallation("second", "mk-first"), newInstallation("third", "mk-third")} {
		if err := createInstallation(t, mi); err != nil {
			t.Fatal(err)
		}
		eventually(t, mi.Name+" Stalled Conflict", conditionIs(mi.Name, meshv1.ConditionStalled, metav1.ConditionTrue, meshv1.ReasonConflict))
		got := getInstallation(t, mi.Name)
		if c := findCondition(got, meshv1.ConditionStalled); !strings.Contains(c.Message, `"first"`) {
			t.Errorf("%s: the message should name the owner: %q", mi.Name, c.Message)
		}
		if c := findCondition(got, meshv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != meshv1.ReasonConflict {
			t.Errorf("%s: Ready should be False/Conflict: %+v", mi.Name, c)
		}
		eventually(t, mi.Name+" kstatus Failed", kstatusIs(mi.Name, kstatus.FailedStatus))
		if controllerutil.ContainsFinalizer(got, Finalizer) {
			t.Errorf("%s: a refused installation holds the finalizer (its claim)", mi.Name)
		}
		// More passes than the watch alone would give: none may act.
		for i := 0; i < 5; i++ {
			if _, err := reconciler.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: mi.Name}}); err != nil {
				t.Fatalf("reconcile %s: %v", mi.Name, err)
			}
		}
	}
	if err := before.diff(snapshotMesh(t, "mk-first", "default")); err != nil {
		t.Fatalf("a refused installation changed the first's mesh: %v", err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "mk-third"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused installation created its control-plane namespace: %v", err)
	}

	deleteInstallation(t, "second")
	deleteInstallation(t, "third")
	// The owner's next pass must find everything it had.
	if _, err := reconciler.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: "first"}}); err != nil {
		t.Fatalf("reconcile first: %v", err)
	}
	if err := before.diff(snapshotMesh(t, "mk-first", "default")); err != nil {
		t.Fatalf("deleting a refused installation changed the first's mesh: %v", err)
	}
	eventually(t, "first still Ready", conditionIs("first", meshv1.ConditionReady, metav1.ConditionTrue, meshv1.ReasonReady))
	eventually(t, "first kstatus Current", kstatusIs("first", kstatus.CurrentStatus))
}

func TestNextInstallationTakesOverOnceTheOwnerIsGone(t *testing.T) {
	installReady(t, "elder", "mk-elder")
	if err := createInstallation(t, newInstallation("heir", "mk-heir")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "heir refused", conditionIs("heir", meshv1.ConditionStalled, metav1.ConditionTrue, meshv1.ReasonConflict))
	deleteInstallation(t, "elder")
	eventually(t, "heir installs", func() error {
		if v, st := latestRevision(t, "mk-heir"); v != 1 || st != "deployed" {
			return fmt.Errorf("latest revision %d %q", v, st)
		}
		return nil
	})
	eventually(t, "heir no longer stalled", conditionIs("heir", meshv1.ConditionStalled, metav1.ConditionFalse, ""))
}
