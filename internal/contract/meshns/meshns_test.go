package meshns

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMeshed(t *testing.T) {
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}
	prod := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod"}}}}
	cases := []struct {
		name   string
		sel    *metav1.LabelSelector
		labels map[string]string
		want   bool
	}{
		{"no selector, no label", nil, map[string]string{"team": "shop"}, false},
		{"no selector, enabled label", nil, map[string]string{"meshkeeper.io/inject": "enabled"}, true},
		{"selector matches", team, map[string]string{"team": "shop"}, true},
		{"selector does not match", team, map[string]string{"team": "ops"}, false},
		{"expression matches", prod, map[string]string{"env": "prod"}, true},
		{"label enabled outside the selector", team, map[string]string{"meshkeeper.io/inject": "enabled"}, true},
		{"opt-out wins over the selector", team, map[string]string{"team": "shop", "meshkeeper.io/inject": "disabled"}, false},
		{"empty selector meshes every namespace", &metav1.LabelSelector{}, map[string]string{}, true},
		{"empty selector still honours the opt-out", &metav1.LabelSelector{}, map[string]string{"meshkeeper.io/inject": "disabled"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flag, err := Encode(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := Parse(flag) // through the flag, as the injector gets it
			if err != nil {
				t.Fatal(err)
			}
			if got := Meshed(tc.labels, sel); got != tc.want {
				t.Fatalf("Meshed(%v) with %q = %v, want %v", tc.labels, flag, got, tc.want)
			}
		})
	}
}

func TestBadSelectorsAreRefused(t *testing.T) {
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}
	if _, err := Encode(bad); err == nil {
		t.Fatal("an invalid operator was encoded")
	}
	for _, flag := range []string{"team=shop", `{"matchLabels":{"team":"a b"}}`, `{"matchExpressions":[{"key":"x","operator":"In"}]}`} {
		if _, err := Parse(flag); err == nil {
			t.Errorf("Parse(%q) accepted", flag)
		}
	}
}
