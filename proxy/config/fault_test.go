//go:build meshkeeper_faults

package config

import (
	"log/slog"
	"strings"
	"testing"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// Run with -tags meshkeeper_faults (make test-proxy does): the builds for
// tests read the fault settings.
func TestFromEnvFaults(t *testing.T) {
	got, err := FromEnv(env(map[string]string{c.EnvLogLevel: "debug", c.EnvFaultFailureRate: "0.25", c.EnvFaultProxyVersion: "0.2.0"}))
	if err != nil || got.LogLevel != slog.LevelDebug || got.FaultFailureRate != 0.25 || got.FaultProxyVersion != "0.2.0" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := FromEnv(env(map[string]string{c.EnvFaultFailureRate: "1.5"})); err == nil || !strings.Contains(err.Error(), c.EnvFaultFailureRate) {
		t.Fatalf("err = %v, want mention of %s", err, c.EnvFaultFailureRate)
	}
}
