//go:build !meshkeeper_faults

package config

import (
	"testing"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// A production build ignores the test-only fault settings entirely, even
// values a test build would refuse.
func TestProductionIgnoresFaults(t *testing.T) {
	for _, rate := range []string{"0.25", "1", "1.5"} {
		got, err := FromEnv(env(map[string]string{c.EnvFaultFailureRate: rate, c.EnvFaultProxyVersion: "0.2.0"}))
		if err != nil || got.FaultFailureRate != 0 || got.FaultProxyVersion != "" || FaultsBuilt {
			t.Fatalf("rate %s: got %+v, %v", rate, got, err)
		}
	}
}
