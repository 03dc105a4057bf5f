// Package hostfx makes, records and undoes the cluster's side effects on the
// host: sysctls, bridges and routes, the egress guard, kube-proxy's netfilter
// state, mounts, cgroups and the directories components hard-code. Snapshot is
// taken before anything changes; Restore puts back exactly what it recorded.
package hostfx

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// run executes a host command with a time bound and returns its combined output.
func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
