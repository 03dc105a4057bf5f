package probe

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// probeTimeout bounds one probe; the webhook's own timeout is shorter.
const probeTimeout = 15 * time.Second

var probeResources = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("1m"),
	corev1.ResourceMemory: resource.MustParse("4Mi"),
}

// DryRunInjection checks the injector the way the API server reaches it: a
// server-side dry-run create of a pod that opts into injection goes through
// admission exactly like a restarted workload's pod, webhook Service routing
// included, and persists nothing. A Deployment can be available while the
// API server still cannot reach its new pods (endpoints or Service rules not
// yet programmed), and the webhook fails open: pods restarted then would come
// up without a proxy.
type DryRunInjection struct {
	Client client.Client
}

// Probe returns nil when a pod created in namespace now would be injected with
// proxy version wantProxy, and says what happened otherwise.
func (d DryRunInjection) Probe(ctx context.Context, namespace, wantProxy string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, GenerateName: "meshkeeper-injector-probe-",
			Annotations: map[string]string{contract.InjectKey: "enabled"},
		},
		// Requests and limits, so a ResourceQuota that demands them admits
		// it; Pod Security "restricted", so a namespace enforcing it does too.
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65534),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "probe", Image: "meshkeeper.invalid/injector-probe:none",
				Resources: corev1.ResourceRequirements{Requests: probeResources, Limits: probeResources},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}},
	}
	if err := d.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		return fmt.Errorf("dry-run pod in %s: %w", namespace, err)
	}
	got, injected := pod.Labels[contract.ProxyVersionLabel]
	switch {
	case !injected:
		return fmt.Errorf("injector did not answer: a pod created in %s now would run without the proxy", namespace)
	case got != wantProxy:
		return fmt.Errorf("injector answers with proxy %s, want %s", got, wantProxy)
	}
	return nil
}
