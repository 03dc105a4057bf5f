package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// TestProductionBinaryHasNoFaultKnob builds the proxy as releases are built
// and checks that the test-only fault settings are not in it, while a build
// with the meshkeeper_faults tag (the e2e images) has them.
func TestProductionBinaryHasNoFaultKnob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the proxy twice")
	}
	for _, tc := range []struct {
		tags string
		want bool
	}{{"", false}, {"meshkeeper_faults", true}} {
		bin := filepath.Join(t.TempDir(), "proxy")
		cmd := exec.Command("go", "build", "-trimpath", "-tags", tc.tags, "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %q: %v\n%s", tc.tags, err, out)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, knob := range []string{contract.EnvFaultFailureRate, contract.EnvFaultProxyVersion, "fault injected"} {
			if got := bytes.Contains(b, []byte(knob)); got != tc.want {
				t.Errorf("tags %q: binary contains %q = %v, want %v", tc.tags, knob, got, tc.want)
			}
		}
	}
}
