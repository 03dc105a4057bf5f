package controllers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/operator/probe"
)

// simulatedInjector plays the injector's answer to the control-plane gate's
// dry-run probe, which envtest cannot give (no injector runs). It answers
// unless a test makes it fail. It also plays the serving certificate the
// injector's pods present, per control-plane namespace, as a test sets it
// (the kubelet refreshes a mounted Secret when it gets to it, not at once).
type simulatedInjector struct {
	mu      sync.Mutex
	failure string
	serving map[string]*x509.Certificate
}

// Presented returns the leaf the injector of namespace presents; an error
// when no test plays one there (as a pod that cannot be dialled).
func (s *simulatedInjector) Presented(_ context.Context, namespace string) ([]*x509.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.serving[namespace]
	if !ok {
		return nil, fmt.Errorf("no injector pod answers in %s", namespace)
	}
	return []*x509.Certificate{c}, nil
}

// present makes the injector of namespace present leaf (nil: none answers).
func (s *simulatedInjector) present(namespace string, leaf *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving == nil {
		s.serving = map[string]*x509.Certificate{}
	}
	if leaf == nil {
		delete(s.serving, namespace)
		return
	}
	s.serving[namespace] = leaf
}

func (s *simulatedInjector) presented(namespace string) *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving[namespace]
}

func (s *simulatedInjector) Probe(context.Context, string, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != "" {
		return errors.New(s.failure)
	}
	return nil
}

// fail makes the probe report failure ("" to answer again).
func (s *simulatedInjector) fail(failure string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = failure
}

// TestDryRunInjectionReportsAnInjectorThatDoesNotAnswer runs the real probe
// against the API server: nothing injects here, so the dry-run pod comes back
// without a proxy, and nothing is created.
func TestDryRunInjectionReportsAnInjectorThatDoesNotAnswer(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe-ns"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	err := probe.DryRunInjection{Client: k8s}.Probe(ctx, "probe-ns", "0.2.0")
	if err == nil || !strings.Contains(err.Error(), "injector did not answer") {
		t.Fatalf("probe: %v", err)
	}
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.InNamespace("probe-ns")); err != nil || len(pods.Items) != 0 {
		t.Fatalf("the probe must persist nothing: %d pods, %v", len(pods.Items), err)
	}
}

// TestDryRunInjectionPassesPodSecurityRestricted: the probe pod itself meets
// Pod Security "restricted", so a meshed namespace enforcing it (CNI mode)
// gets the injector's answer, not a refusal of the probe.
func TestDryRunInjectionPassesPodSecurityRestricted(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe-restricted", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	err := probe.DryRunInjection{Client: k8s}.Probe(ctx, ns.Name, "0.2.0")
	if err == nil || !strings.Contains(err.Error(), "injector did not answer") {
		t.Fatalf("probe in a restricted namespace: %v", err)
	}
}
