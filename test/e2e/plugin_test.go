//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/kubectlplugin"
)

// The plugin is built once per run, as a user builds it (make build).
var pluginBuild struct {
	once sync.Once
	path string
	err  error
}

// buildPlugin builds the plugin once; setup starts it in the background
// while the cluster comes up (about a minute and a half on two cores, mostly
// k8s.io/cli-runtime), and the first test to run it waits for it.
func buildPlugin() {
	pluginBuild.once.Do(func() {
		pluginBuild.path = filepath.Join(env.repo, "bin", "kubectl-meshkeeper")
		pluginBuild.err = command(10*time.Minute, env.repo, "go", "build", "-trimpath", "-o", pluginBuild.path, "./cmd/kubectl-meshkeeper")
	})
}

func pluginBinary(t testing.TB) string {
	t.Helper()
	buildPlugin()
	if pluginBuild.err != nil {
		t.Fatalf("build kubectl-meshkeeper: %v", pluginBuild.err)
	}
	return pluginBuild.path
}

// pluginRun is one finished run of the plugin.
type pluginRun struct {
	stdout, stderr string
	code           int
}

// execPlugin runs `bin args...` against the test cluster; an error means it
// did not run to an exit (safe to call from any goroutine).
func execPlugin(ctx context.Context, bin string, args ...string) (pluginRun, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", env.kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := pluginRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return run, nil
	case errors.As(err, &exit) && exit.Exited():
		run.code = exit.ExitCode()
		return run, nil
	}
	return run, fmt.Errorf("kubectl-meshkeeper %s: %w\n%s", strings.Join(args, " "), err, run.stderr)
}

// runPlugin runs the plugin and returns its stdout, stderr and exit code.
func runPlugin(ctx context.Context, t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	run, err := execPlugin(ctx, pluginBinary(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	return run.stdout, run.stderr, run.code
}

// pluginCheck runs `check -o json` and returns its report and exit code.
func pluginCheck(t testing.TB) (kubectlplugin.CheckReport, int) {
	t.Helper()
	out, errOut, code := runPlugin(ctxFor(t, 2*time.Minute), t, "check", "-o", "json")
	var rep kubectlplugin.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check -o json (exit %d) did not print a report: %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	return rep, code
}

// checkResult returns the named check's result.
func checkResult(t testing.TB, rep kubectlplugin.CheckReport, name string) kubectlplugin.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("check printed no %q result: %+v", name, rep.Results)
	return kubectlplugin.Result{}
}

// failedSummary is one line per failed check, for test logs and messages.
func failedSummary(rep kubectlplugin.CheckReport) string {
	var lines []string
	for _, r := range rep.Results {
		if !r.OK {
			lines = append(lines, fmt.Sprintf("✖ %s: %s", r.Name, r.Message))
		}
	}
	return strings.Join(lines, "\n")
}

// requireCheckPasses waits until `kubectl meshkeeper check` exits 0. It is
// polled: with the suite's one-minute leaf certificates and issuer renewals
// a proxy may hold the previous issuer's certificate for a few seconds after
// each renewal, and check rightly names it meanwhile.
func requireCheckPasses(t testing.TB, within time.Duration) {
	t.Helper()
	runs := 0
	eventually(t, ctxFor(t, within), "kubectl meshkeeper check exits 0", func(context.Context) error {
		runs++
		rep, code := pluginCheck(t)
		if code == 0 && len(rep.Failed) == 0 {
			return nil
		}
		return fmt.Errorf("exit %d, failed %v:\n%s", code, rep.Failed, failedSummary(rep))
	})
	t.Logf("FIGURE check exit=0 after %d run(s)", runs)
}
