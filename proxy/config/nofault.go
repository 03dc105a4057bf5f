//go:build !meshkeeper_faults

package config

// FaultsBuilt reports whether this build reads and injects test faults: a
// production proxy never does, whatever its environment says.
const FaultsBuilt = false

func parseFault(func(string) string, *Config) error { return nil }
