package charts_test

import (
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// TestProxyLimitsSchema: the current chart's schema knows every proxy limit
// and refuses a malformed one before any proxy starts with it.
func TestProxyLimitsSchema(t *testing.T) {
	ch, err := loader.LoadDir("0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(env map[string]any) error {
		vals, err := chartutil.CoalesceValues(ch, map[string]any{"installation": "mesh", "proxy": map[string]any{"env": env}})
		if err != nil {
			t.Fatal(err)
		}
		return chartutil.ValidateAgainstSchema(ch, vals)
	}
	for _, s := range contract.ProxyLimitSettings {
		if err := validate(map[string]any{s.Env: "not valid"}); err == nil {
			t.Errorf("schema accepts %s=%q", s.Env, "not valid")
		}
	}
	for _, tc := range []struct {
		env map[string]any
		ok  bool
	}{
		{map[string]any{contract.EnvProxyMaxConnections: "2000", contract.EnvProxyHeaderTimeout: "2.5s",
			contract.EnvProxyIdleTimeout: "1m30s", contract.EnvProxyTCPIdleTimeout: "2h", contract.EnvProxyMaxHeaderBytes: "65536",
			"SOMETHING_ELSE": "free text"}, true},
		{map[string]any{contract.EnvProxyHeaderTimeout: "10"}, false},
		{map[string]any{contract.EnvProxyMaxConnections: "-1"}, false},
		{map[string]any{contract.EnvProxyMaxHeaderBytes: 65536}, false}, // env values are strings
	} {
		if err := validate(tc.env); (err == nil) != tc.ok {
			t.Errorf("proxy.env %v: err %v, want ok=%v", tc.env, err, tc.ok)
		}
	}
}
