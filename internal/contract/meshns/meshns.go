// Package meshns is the one rule for which namespaces are meshed by default,
// shared by the injector (which decides) and the operator (which renders the
// rule into the injector's flags and finds pods that missed it). It lives
// apart from internal/contract so the proxy does not link apimachinery.
package meshns

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Meshed reports whether pods created in a namespace with these labels get
// the proxy unless they opt out: the namespace is labelled
// meshkeeper.io/inject=enabled, or it matches selector
// (spec.dataPlane.namespaceSelector; nil when unset). A namespace labelled
// meshkeeper.io/inject=disabled is never meshed: the explicit opt-out wins.
func Meshed(nsLabels map[string]string, selector labels.Selector) bool {
	switch nsLabels[contract.InjectKey] {
	case contract.InjectEnabled:
		return true
	case contract.InjectDisabled:
		return false
	}
	return selector != nil && selector.Matches(labels.Set(nsLabels))
}

// Encode renders a namespace selector as the injector's --namespace-selector
// flag value (JSON, so an empty selector — every namespace — stays distinct
// from none). A selector Kubernetes would reject is an error.
func Encode(sel *metav1.LabelSelector) (string, error) {
	if sel == nil {
		return "", nil
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return "", fmt.Errorf("spec.dataPlane.namespaceSelector: %w", err)
	}
	raw, err := json.Marshal(sel)
	if err != nil {
		return "", err
	}
	return string(raw), nil
}

// Parse reads a flag value written by Encode; "" means no selector (nil).
func Parse(flag string) (labels.Selector, error) {
	if flag == "" {
		return nil, nil
	}
	var sel metav1.LabelSelector
	if err := json.Unmarshal([]byte(flag), &sel); err != nil {
		return nil, fmt.Errorf("namespace selector %q is not a JSON LabelSelector: %w", flag, err)
	}
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		return nil, fmt.Errorf("namespace selector %q: %w", flag, err)
	}
	return s, nil
}
