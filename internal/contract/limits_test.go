package contract

import (
	"testing"
	"time"
)

func TestProxyLimitSettings(t *testing.T) {
	set := func(env, value string) (ProxyLimits, error) {
		l := DefaultProxyLimits
		for _, s := range ProxyLimitSettings {
			if s.Env == env {
				return l, s.Set(&l, value)
			}
		}
		t.Fatalf("no setting %s", env)
		return l, nil
	}
	for _, tc := range []struct {
		env, value string
		ok         bool
		check      func(ProxyLimits) bool
	}{
		{EnvProxyMaxConnections, " 2000", true, func(l ProxyLimits) bool { return l.MaxConnections == 2000 }},
		{EnvProxyMaxConnections, "0", false, nil},
		{EnvProxyMaxConnections, "-5", false, nil},
		{EnvProxyMaxConnections, "1e3", false, nil},
		{EnvProxyHeaderTimeout, "3s", true, func(l ProxyLimits) bool { return l.HeaderTimeout == 3*time.Second }},
		{EnvProxyHeaderTimeout, "10", false, nil}, // no unit
		{EnvProxyHeaderTimeout, "1ms", false, nil},
		{EnvProxyIdleTimeout, "90s", true, func(l ProxyLimits) bool { return l.IdleTimeout == 90*time.Second }},
		{EnvProxyIdleTimeout, "0s", false, nil},
		{EnvProxyTCPIdleTimeout, "2h", true, func(l ProxyLimits) bool { return l.TCPIdleTimeout == 2*time.Hour }},
		{EnvProxyTCPIdleTimeout, "400h", false, nil},
		{EnvProxyMaxHeaderBytes, "65536", true, func(l ProxyLimits) bool { return l.MaxHeaderBytes == 65536 }},
		{EnvProxyMaxHeaderBytes, "100", false, nil},
		{EnvProxyMaxHeaderBytes, "lots", false, nil},
	} {
		l, err := set(tc.env, tc.value)
		if tc.ok != (err == nil) {
			t.Errorf("%s=%q: err %v, want ok=%v", tc.env, tc.value, err, tc.ok)
			continue
		}
		if !tc.ok && l != DefaultProxyLimits {
			t.Errorf("%s=%q: a refused value changed the limits: %+v", tc.env, tc.value, l)
		}
		if tc.ok && !tc.check(l) {
			t.Errorf("%s=%q: limits %+v", tc.env, tc.value, l)
		}
	}
}
