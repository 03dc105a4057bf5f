package contract

import "testing"

func TestResolveMTLSMode(t *testing.T) {
	strict := map[string]string{MTLSModeKey: MTLSStrict}
	permissive := map[string]string{MTLSModeKey: MTLSPermissive}
	bogus := map[string]string{MTLSModeKey: "bogus"}
	for _, tc := range []struct {
		name     string
		pod, ns  map[string]string
		def      string
		expected string
	}{
		{"default when nothing set", nil, nil, MTLSPermissive, MTLSPermissive},
		{"namespace overrides default", nil, strict, MTLSPermissive, MTLSStrict},
		{"pod overrides namespace", permissive, strict, MTLSStrict, MTLSPermissive},
		{"invalid pod value falls through", bogus, strict, MTLSPermissive, MTLSStrict},
		{"invalid everywhere uses default", bogus, bogus, MTLSStrict, MTLSStrict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResolveMTLSMode(tc.pod, tc.ns, tc.def); got != tc.expected {
				t.Fatalf("ResolveMTLSMode = %q, want %q", got, tc.expected)
			}
		})
	}
}
