package lifecycle

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestProbeSubject(t *testing.T) {
	dep := func(name string, gen int64) appsv1.Deployment {
		return appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen}}
	}
	a := probeSubject("d1", []appsv1.Deployment{dep("injector", 1), dep("identity", 2)})
	if b := probeSubject("d1", []appsv1.Deployment{dep("identity", 2), dep("injector", 1)}); a != b {
		t.Errorf("order must not matter: %q vs %q", a, b)
	}
	for _, other := range []string{
		probeSubject("d2", []appsv1.Deployment{dep("injector", 1), dep("identity", 2)}),
		probeSubject("d1", []appsv1.Deployment{dep("injector", 3), dep("identity", 2)}), // scaled
		probeSubject("d1", []appsv1.Deployment{dep("identity", 2)}),
	} {
		if other == a {
			t.Errorf("a changed digest or Deployment must change the subject: %q", other)
		}
	}
}

func TestProbeDue(t *testing.T) {
	now := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	passed := func(ago time.Duration) *meshv1.ProbeStatus {
		return &meshv1.ProbeStatus{Subject: "s", PassedAt: metav1.NewTime(now.Add(-ago))}
	}
	cases := []struct {
		name  string
		last  *meshv1.ProbeStatus
		sub   string
		due   bool
		stand time.Duration
	}{
		{"never probed", nil, "s", true, 0},
		{"passed a minute ago", passed(time.Minute), "s", false, ReprobeInterval - time.Minute},
		{"subject changed", passed(time.Minute), "t", true, 0},
		{"stale", passed(ReprobeInterval), "s", true, 0},
		{"clock went back", passed(-time.Hour), "s", true, 0},
	}
	for _, c := range cases {
		due, stand := probeDue(c.last, c.sub, now)
		if due != c.due || stand != c.stand {
			t.Errorf("%s: due %v stands %s, want %v %s", c.name, due, stand, c.due, c.stand)
		}
	}
}

func TestReadyProbeNamespaceFollowsTheSelector(t *testing.T) {
	shop := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "shop"}}}
	def := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if got := readyProbeNamespace([]corev1.Namespace{def, shop}, labels.SelectorFromSet(labels.Set{"team": "shop"}), "mesh-system"); got != "shop" {
		t.Fatalf("got %q, want the namespace the selector meshes", got)
	}
}

func TestReadyProbeNamespace(t *testing.T) {
	ns := func(name string, meshed bool) corev1.Namespace {
		n := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if meshed {
			n.Labels = map[string]string{contract.InjectKey: contract.InjectEnabled}
		}
		return n
	}
	gone := ns("aaa", true)
	gone.DeletionTimestamp = &metav1.Time{}
	cases := []struct {
		name string
		nss  []corev1.Namespace
		want string
	}{
		{"first meshed namespace", []corev1.Namespace{ns("default", false), ns("shop", true), ns("bank", true)}, "bank"},
		{"the control plane's own is excluded", []corev1.Namespace{ns("default", false), ns("mesh-system", true), ns("kube-system", true)}, "default"},
		{"terminating is skipped", []corev1.Namespace{gone, ns("default", false)}, "default"},
		{"nothing to probe in", []corev1.Namespace{ns("mesh-system", false), ns("kube-public", false)}, ""},
	}
	for _, c := range cases {
		if got := readyProbeNamespace(c.nss, nil, "mesh-system"); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
