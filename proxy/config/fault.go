//go:build meshkeeper_faults

package config

import (
	"fmt"
	"strconv"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// FaultsBuilt reports whether this build reads and injects test faults.
const FaultsBuilt = true

// parseFault reads the test-only fault settings (builds for tests only).
func parseFault(getenv func(string) string, c *Config) error {
	c.FaultProxyVersion = getenv(contract.EnvFaultProxyVersion)
	s := getenv(contract.EnvFaultFailureRate)
	if s == "" {
		return nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || r > 1 {
		return fmt.Errorf("%s=%q: want a number in [0,1]", contract.EnvFaultFailureRate, s)
	}
	c.FaultFailureRate = r
	return nil
}
