package inject

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
)

const cpNamespace = "meshkeeper-system"

func testPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Annotations: annotations, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web",
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "migrate:1"}},
			Containers:         []corev1.Container{{Name: "app", Image: "web:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
		},
	}
}

func testNamespace(name string, labels, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}}
}

func TestShouldInject(t *testing.T) {
	enabledNS := testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil)
	plainNS := testNamespace("shop", nil, nil)
	podOn := map[string]string{contract.InjectKey: contract.InjectEnabled}
	podOff := map[string]string{contract.InjectKey: contract.InjectDisabled}
	hostNetwork := testPod(podOn)
	hostNetwork.Spec.HostNetwork = true
	injected, _ := Mutate(testPod(nil), enabledNS, Config{})
	sidecarOnly := testPod(nil)
	sidecarOnly.Spec.InitContainers = []corev1.Container{{Name: contract.ProxyContainerName}}

	teamShop, _ := meshns.Parse(`{"matchLabels":{"team":"shop"}}`)
	teamNS := testNamespace("shop", map[string]string{"team": "shop"}, nil)
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		ns       *corev1.Namespace
		want     bool
		reason   string
		selector labels.Selector
	}{
		{"opt-in by namespace label", testPod(nil), enabledNS, true, ReasonNamespaceEnabled, nil},
		{"opt-in by pod annotation", testPod(podOn), plainNS, true, ReasonPodEnabled, nil},
		{"pod opt-out beats namespace label", testPod(podOff), enabledNS, false, ReasonPodDisabled, nil},
		{"unknown pod value falls back to namespace", testPod(map[string]string{contract.InjectKey: "yes"}), enabledNS, true, ReasonNamespaceEnabled, nil},
		{"nothing set", testPod(nil), plainNS, false, ReasonNotOptedIn, nil},
		{"namespace annotation is not a label", testPod(nil), testNamespace("shop", nil, podOn), false, ReasonNotOptedIn, nil},
		{"kube-system even when asked", testPod(podOn), testNamespace("kube-system", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil), false, ReasonExcludedNamespace, nil},
		{"control plane even when asked", testPod(podOn), testNamespace(cpNamespace, nil, nil), false, ReasonExcludedNamespace, nil},
		{"host network", hostNetwork, enabledNS, false, ReasonHostNetwork, nil},
		{"already injected", injected, enabledNS, false, ReasonAlreadyInjected, nil},
		{"proxy container present", sidecarOnly, enabledNS, false, ReasonAlreadyInjected, nil},
		{"namespace matched by the selector", testPod(nil), teamNS, true, ReasonNamespaceSelected, teamShop},
		{"selector set, namespace not matched", testPod(nil), plainNS, false, ReasonNotOptedIn, teamShop},
		{"no selector: a matching namespace is not meshed", testPod(nil), teamNS, false, ReasonNotOptedIn, nil},
		{"pod opt-out beats the selector", testPod(podOff), teamNS, false, ReasonPodDisabled, teamShop},
		{"namespace opt-out beats the selector", testPod(nil), testNamespace("shop", map[string]string{"team": "shop", contract.InjectKey: contract.InjectDisabled}, nil), false, ReasonNotOptedIn, teamShop},
		{"control plane even when selected", testPod(nil), testNamespace(cpNamespace, map[string]string{"team": "shop"}, nil), false, ReasonExcludedNamespace, teamShop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := ShouldInject(tc.pod, tc.ns, cpNamespace, tc.selector)
			if got != tc.want || reason != tc.reason {
				t.Fatalf("ShouldInject = (%v, %q), want (%v, %q)", got, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestParsePortList(t *testing.T) {
	for _, tc := range []struct {
		in, csv string
		invalid []string
	}{
		{"", "", nil},
		{"5432", "5432", nil},
		{" 6379, 5432,5432 ,", "5432,6379", nil},
		{"80,http,0,70000,443", "80,443", []string{"http", "0", "70000"}},
	} {
		csv, invalid := ParsePortList(tc.in)
		if csv != tc.csv || len(invalid) != len(tc.invalid) {
			t.Errorf("ParsePortList(%q) = (%q, %v), want (%q, %v)", tc.in, csv, invalid, tc.csv, tc.invalid)
		}
		for i := range invalid {
			if invalid[i] != tc.invalid[i] {
				t.Errorf("ParsePortList(%q) invalid = %v, want %v", tc.in, invalid, tc.invalid)
			}
		}
	}
}
