//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env is what every test needs, set up once by TestMain.
var env struct {
	repo        string
	kubeconfig  string
	kubectl     string
	img         string
	meshcluster string // set when this run owns the cluster
	artifacts   string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	start := time.Now()
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		code = 1
	} else {
		code = m.Run()
	}
	if code != 0 {
		collectDiagnostics()
	}
	if env.meshcluster != "" {
		logf("tearing the local cluster down")
		if err := command(5*time.Minute, "", env.meshcluster, "down"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e teardown:", err)
			code = 1
		}
	}
	logf("e2e finished in %s (exit %d)", time.Since(start).Round(time.Second), code)
	return code
}

func setup() error {
	var err error
	if env.repo, err = repoRoot(); err != nil {
		return err
	}
	env.img = envOr("MESHKEEPER_IMG", "ghcr.io/meshkeeper/manager:dev")
	go buildPlugin() // kubectl-meshkeeper, for the tests that run it
	env.artifacts = envOr("E2E_ARTIFACTS", filepath.Join(os.TempDir(), "meshkeeper-e2e-"+time.Now().Format("20060102-150405")))
	kubeBin, err := output(25*time.Minute, env.repo, "bash", "test/tools/build.sh")
	if err != nil {
		return err
	}
	env.kubectl = filepath.Join(strings.TrimSpace(kubeBin), "kubectl")

	env.kubeconfig = os.Getenv("KUBECONFIG")
	if env.kubeconfig == "" {
		if err := startCluster(); err != nil {
			return err
		}
	} else {
		logf("using the cluster of KUBECONFIG=%s", env.kubeconfig)
	}
	logf("building and importing images")
	return command(30*time.Minute, env.repo, "go", "run", "./test/images/cmd/mkimages",
		"-test-faults", "-manager-img", env.img, "-version", envOr("MESHKEEPER_VERSION", "dev"), "-out", filepath.Join(env.repo, "bin", "images"))
}

// startCluster brings the local cluster up; its lifetime outlasts the test
// timeout, so even a killed test binary leaves a cluster the reaper removes.
func startCluster() error {
	bin := filepath.Join(env.repo, "bin", "meshcluster")
	if err := command(10*time.Minute, env.repo, "go", "build", "-trimpath", "-o", bin, "./test/cluster/cmd/meshcluster"); err != nil {
		return err
	}
	logf("starting the local cluster")
	t0 := time.Now()
	out, err := output(15*time.Minute, env.repo, bin, "up", "-repo", env.repo, "-lifetime", "90m")
	if err != nil {
		// Up tears itself down on failure.
		return err
	}
	env.meshcluster = bin
	env.kubeconfig = strings.TrimSpace(out)
	logf("cluster up in %s; KUBECONFIG=%s", time.Since(t0).Round(100*time.Millisecond), env.kubeconfig)
	return os.Setenv("KUBECONFIG", env.kubeconfig)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "test", "cluster")); err == nil {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("no meshkeeper checkout above %s", dir)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[e2e %s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// ctxFor returns a context bounded by d (and by the test's own deadline).
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := dt.Deadline(); ok && time.Until(deadline) < d {
			cancel()
			ctx, cancel = context.WithDeadline(context.Background(), deadline.Add(-10*time.Second))
		}
	}
	t.Cleanup(cancel)
	return ctx
}
