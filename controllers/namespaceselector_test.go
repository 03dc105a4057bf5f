package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
)

// spec.dataPlane.namespaceSelector reaches the injector as a flag, and the
// webhook sends the selected namespaces' pods to it.
func TestNamespaceSelectorReachesTheInjector(t *testing.T) {
	ctx := context.Background()
	mi := newInstallation("selector", "mk-selector")
	mi.Spec.DataPlane.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}
	if err := createInstallation(t, mi); err != nil {
		t.Fatal(err)
	}
	var flag string
	eventually(t, "injector started with --namespace-selector", func() error {
		var dep appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "mk-selector", Name: "meshkeeper-injector"}, &dep); err != nil {
			return err
		}
		for _, arg := range dep.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(arg, "--namespace-selector="); ok {
				flag = v
				return nil
			}
		}
		return fmt.Errorf("args %v", dep.Spec.Template.Spec.Containers[0].Args)
	})
	sel, err := meshns.Parse(flag)
	if err != nil {
		t.Fatal(err)
	}
	shop := map[string]string{"kubernetes.io/metadata.name": "shop", "team": "shop"}
	if !meshns.Meshed(shop, sel) || meshns.Meshed(map[string]string{"team": "ops"}, sel) {
		t.Fatalf("the injector's selector %q does not select as the spec says", flag)
	}
	// Helm creates the webhook configuration after the Deployment, within
	// the same install: the Deployment seen above may be all there is yet.
	var wh admissionv1.MutatingWebhookConfiguration
	eventually(t, "the injector's webhook configuration", func() error {
		return k8s.Get(ctx, client.ObjectKey{Name: "meshkeeper-proxy-injector-mk-selector"}, &wh)
	})
	admits, err := metav1.LabelSelectorAsSelector(wh.Webhooks[0].NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !admits.Matches(labels.Set(shop)) {
		t.Fatalf("the webhook's namespaceSelector %s does not send a selected namespace's pods to the injector", admits)
	}
}
