// Package kubeenv starts the envtest API server (etcd and kube-apiserver
// built from Go modules by test/tools/build.sh, found through
// KUBEBUILDER_ASSETS) the same way for every test that needs one, and gives
// tests that need no API server controller-runtime's fake client with the
// operator's scheme and one failure point (Faults).
package kubeenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

// HowToGetAssets says how to run envtest tests when the assets are missing.
const HowToGetAssets = "KUBEBUILDER_ASSETS is unset: export KUBEBUILDER_ASSETS=\"$(test/tools/build.sh)\" (or run `make test-unit`, which builds etcd and kube-apiserver first)"

// Available reports whether KUBEBUILDER_ASSETS names the API server binaries.
func Available() bool { return os.Getenv("KUBEBUILDER_ASSETS") != "" }

// Options choose what the API server starts with.
type Options struct {
	// CRDs installs the repository's CRDs (config/crd/bases) and fails the
	// start when they are missing.
	CRDs bool
}

// Start starts an API server. The caller stops it with env.Stop.
func Start(opts Options) (*envtest.Environment, *rest.Config, error) {
	env := &envtest.Environment{}
	if opts.CRDs {
		env.CRDDirectoryPaths = []string{CRDDir()}
		env.ErrorIfCRDPathMissing = true
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, err
	}
	return env, cfg, nil
}

// StartT starts an API server for one test, stopped when the test ends; the
// test is skipped when the assets are missing.
func StartT(t testing.TB, opts Options) (*envtest.Environment, *rest.Config) {
	t.Helper()
	if !Available() {
		t.Skip(HowToGetAssets)
	}
	env, cfg, err := Start(opts)
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop envtest: %v", err)
		}
	})
	return env, cfg
}

// CRDDir is config/crd/bases of this repository, wherever the test runs.
func CRDDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "config", "crd", "bases")
}

// Scheme holds the Kubernetes built-in kinds and the operator's API.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(meshv1.AddToScheme(s))
	return s
}
