package config

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

func env(over map[string]string) func(string) string {
	base := map[string]string{
		c.EnvIdentityAddr: "meshkeeper-identity.meshkeeper.svc:8080", c.EnvDiscoveryAddr: "meshkeeper-discovery.meshkeeper.svc:8086",
		c.EnvTrustDomain: "cluster.local", c.EnvTrustRootsPath: "/var/run/meshkeeper/trust/ca-bundle.crt",
		c.EnvTokenPath: "/var/run/secrets/meshkeeper/token", c.EnvPodNamespace: "app", c.EnvServiceAccount: "web",
	}
	for k, v := range over {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		over    map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults: permissive, info, no fault", nil, func(g Config) bool {
			return !g.Strict && g.LogLevel == slog.LevelInfo && g.FaultFailureRate == 0 && g.Identity() == "spiffe://cluster.local/ns/app/sa/web"
		}, ""},
		{"strict", map[string]string{c.EnvMTLSMode: c.MTLSStrict}, func(g Config) bool { return g.Strict }, ""},
		{"debug", map[string]string{c.EnvLogLevel: "debug"}, func(g Config) bool { return g.LogLevel == slog.LevelDebug }, ""},
		{"skip ports", map[string]string{c.EnvSkipInboundPorts: "22, 3306,"}, func(g Config) bool {
			return reflect.DeepEqual(g.SkipInboundPorts, []uint16{22, 3306})
		}, ""},
		{"bad mode", map[string]string{c.EnvMTLSMode: "off"}, nil, c.EnvMTLSMode},
		{"missing identity addr", map[string]string{c.EnvIdentityAddr: ""}, nil, c.EnvIdentityAddr},
		{"bad port", map[string]string{c.EnvSkipInboundPorts: "70000"}, nil, c.EnvSkipInboundPorts},
		{"one core by default", nil, func(g Config) bool { return g.Cores == 1 }, ""},
		{"cores", map[string]string{c.EnvProxyCores: " 4 "}, func(g Config) bool { return g.Cores == 4 }, ""},
		{"zero cores", map[string]string{c.EnvProxyCores: "0"}, nil, c.EnvProxyCores},
		{"too many cores", map[string]string{c.EnvProxyCores: "65"}, nil, c.EnvProxyCores},
		{"cores not a number", map[string]string{c.EnvProxyCores: "two"}, nil, c.EnvProxyCores},
		{"default limits", nil, func(g Config) bool { return g.Limits == c.DefaultProxyLimits }, ""},
		{"limits", map[string]string{c.EnvProxyMaxConnections: "3000", c.EnvProxyHeaderTimeout: "2s", c.EnvProxyMaxHeaderBytes: "65536"},
			func(g Config) bool {
				return g.Limits.MaxConnections == 3000 && g.Limits.HeaderTimeout == 2*time.Second &&
					g.Limits.MaxHeaderBytes == 65536 && g.Limits.IdleTimeout == c.DefaultProxyLimits.IdleTimeout
			}, ""},
		{"zero connections", map[string]string{c.EnvProxyMaxConnections: "0"}, nil, c.EnvProxyMaxConnections},
		{"header timeout without unit", map[string]string{c.EnvProxyHeaderTimeout: "10"}, nil, c.EnvProxyHeaderTimeout},
		{"idle timeout off", map[string]string{c.EnvProxyIdleTimeout: "0s"}, nil, c.EnvProxyIdleTimeout},
		{"tcp idle timeout bogus", map[string]string{c.EnvProxyTCPIdleTimeout: "forever"}, nil, c.EnvProxyTCPIdleTimeout},
		{"header bytes too small", map[string]string{c.EnvProxyMaxHeaderBytes: "512"}, nil, c.EnvProxyMaxHeaderBytes},
		{"app probes", map[string]string{c.EnvAppProbes: `{"/app-health/web/readiness":{"port":8080,"path":"/healthz"}}`},
			func(g Config) bool { return g.AppProbes["/app-health/web/readiness"].Port == 8080 }, ""},
		{"app probe on the admin port", map[string]string{c.EnvAppProbes: `{"/app-health/web/readiness":{"port":4191,"path":"/metrics"}}`}, nil, c.EnvAppProbes},
		{"app probe outside the prefix", map[string]string{c.EnvAppProbes: `{"/metrics":{"port":8080,"path":"/"}}`}, nil, c.EnvAppProbes},
		{"app probe scheme", map[string]string{c.EnvAppProbes: `{"/app-health/web/live":{"port":8080,"scheme":"gopher"}}`}, nil, c.EnvAppProbes},
		{"default opaque ports", nil, func(g Config) bool { return g.OpaquePorts.String() == c.DefaultOpaquePorts }, ""},
		{"opaque ports", map[string]string{c.EnvOpaquePorts: "25,5000-5010"}, func(g Config) bool {
			return g.OpaquePorts.Contains(5005) && !g.OpaquePorts.Contains(3306)
		}, ""},
		{"no opaque ports", map[string]string{c.EnvOpaquePorts: c.NoOpaquePorts}, func(g Config) bool { return len(g.OpaquePorts) == 0 }, ""},
		{"bad opaque ports", map[string]string{c.EnvOpaquePorts: "5010-5000"}, nil, c.EnvOpaquePorts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(env(tt.over))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want mention of %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(got) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

func TestScopeFault(t *testing.T) {
	for _, tc := range []struct {
		target, version string
		want            float64
	}{{"", "0.1.0", 0.5}, {"0.2.0", "0.2.0", 0.5}, {"0.2.0", "0.1.0", 0}} {
		c := Config{FaultFailureRate: 0.5, FaultProxyVersion: tc.target}
		c.ScopeFault(tc.version)
		if c.FaultFailureRate != tc.want {
			t.Errorf("fault for %q on proxy %s: %v, want %v", tc.target, tc.version, c.FaultFailureRate, tc.want)
		}
	}
}
