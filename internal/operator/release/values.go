package release

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

// ReleaseName is the Helm release of the control plane in its namespace.
const ReleaseName = "meshkeeper-control-plane"

// Values derives the chart values of an installation. User overrides from
// spec.controlPlane.values are merged over the derived values, then the keys
// that tie the control plane to this installation and its trust are set again:
// those are never the user's to change.
func Values(mi *meshv1.MeshInstallation, rel versions.Release, webhookCABundle []byte) (map[string]any, error) {
	controlPlaneImage, proxyImage, proxyInitImage := rel.Images(versions.DefaultRegistry)
	derived := map[string]any{
		"replicas": int64(1),
		"images": map[string]any{
			"controlPlane": controlPlaneImage,
			"proxy":        proxyImage,
			"proxyInit":    proxyInitImage,
		},
		"injector": map[string]any{
			"defaultMTLSMode": string(mi.Spec.DataPlane.MTLSMode),
		},
	}
	if mi.Spec.DataPlane.Redirect == meshv1.RedirectCNI {
		// Like the other images, a user value may point it at a mirror.
		derived["images"].(map[string]any)["cni"] = rel.CNIImage(versions.DefaultRegistry)
	}
	if r := mi.Spec.ControlPlane.Replicas; r != nil {
		derived["replicas"] = int64(*r)
	}
	if res := mi.Spec.ControlPlane.Resources; res != nil {
		m, err := toMap(res)
		if err != nil {
			return nil, err
		}
		derived["resources"] = m
	}
	user, err := userValues(mi)
	if err != nil {
		return nil, err
	}
	out := merge(derived, user)
	injector := map[string]any{"caBundle": base64.StdEncoding.EncodeToString(webhookCABundle)}
	// The webhook already sees every non-system namespace; the injector
	// decides, so it alone needs the selector. Set only when the spec has
	// one, so installations without it keep their digest.
	sel, err := meshns.Encode(mi.Spec.DataPlane.NamespaceSelector)
	if err != nil {
		return nil, err
	}
	if sel != "" {
		injector["namespaceSelector"] = sel
	} else if inj, ok := out["injector"].(map[string]any); ok {
		delete(inj, "namespaceSelector") // the spec's field alone decides
	}
	protected := map[string]any{
		"installation": mi.Name,
		"trustDomain":  mi.Spec.Trust.TrustDomain,
		"proxyVersion": rel.ProxyVersion,
		"injector":     injector,
	}
	redirectValues(mi, out, protected)
	if err := checkLeafTTL(out); err != nil {
		return nil, err
	}
	if err := checkRedirect(mi, rel); err != nil {
		return nil, err
	}
	return merge(out, protected), nil
}

// redirectValues turns the CNI plugin on for spec.dataPlane.redirect CNI:
// the chart then renders the node agent's DaemonSet and the injector's
// --redirect=CNI. The spec alone decides, so a user value cannot turn it
// on; the node's CNI dirs (cni.binDir, confDir) stay the user's. Nothing is
// set for InitContainer, so installations that do not use CNI keep their
// digest.
func redirectValues(mi *meshv1.MeshInstallation, out, protected map[string]any) {
	if mi.Spec.DataPlane.Redirect == meshv1.RedirectCNI {
		protected["cni"] = map[string]any{"enabled": true}
	} else if cni, ok := out["cni"].(map[string]any); ok {
		delete(cni, "enabled")
	}
}

// checkLeafTTL refuses an identity.leafTTL the control plane would refuse at
// start, so the mistake stalls the installation before anything rolls out.
func checkLeafTTL(values map[string]any) error {
	id, _ := values["identity"].(map[string]any)
	raw, ok := id["leafTTL"].(string)
	if !ok {
		return nil // absent: the chart default; another type: the schema says so
	}
	ttl, err := time.ParseDuration(raw)
	if err != nil {
		return fmt.Errorf("identity.leafTTL %q: %w", raw, err)
	}
	if ttl < time.Minute || ttl > contract.MaxLeafTTL {
		return fmt.Errorf("identity.leafTTL %s must be between 1m and %s", raw, contract.MaxLeafTTL)
	}
	return nil
}

// checkRedirect refuses CNI redirection for a release without the CNI
// plugin: its pods would start with no redirect rules.
func checkRedirect(mi *meshv1.MeshInstallation, rel versions.Release) error {
	if mi.Spec.DataPlane.Redirect == meshv1.RedirectCNI && !rel.CNIPlugin {
		return fmt.Errorf("spec.dataPlane.redirect %s: mesh version %s ships no CNI plugin; use %s", meshv1.RedirectCNI, rel.Version, meshv1.RedirectInitContainer)
	}
	return nil
}

// userValues parses spec.controlPlane.values; it must be a JSON object.
func userValues(mi *meshv1.MeshInstallation) (map[string]any, error) {
	v := mi.Spec.ControlPlane.Values
	if v == nil || len(v.Raw) == 0 {
		return map[string]any{}, nil
	}
	var out map[string]any
	if err := json.Unmarshal(v.Raw, &out); err != nil {
		return nil, fmt.Errorf("spec.controlPlane.values must be an object: %w", err)
	}
	return normalize(out).(map[string]any), nil
}

// merge returns base with over deep-merged into it; neither input is changed.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func toMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return normalize(out).(map[string]any), nil
}

// normalize turns JSON numbers that are whole into int64, so values like
// replicas render as integers and validate against the chart's schema.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	case float64:
		if t == float64(int64(t)) {
			return int64(t)
		}
	}
	return v
}

// Digest identifies a chart and its values; an unchanged digest means there is
// nothing to upgrade. It fits a Kubernetes label value.
func Digest(chartDigest string, values map[string]any) (string, error) {
	raw, err := json.Marshal(values) // map keys marshal sorted: stable
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(chartDigest))
	h.Write([]byte{0})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
