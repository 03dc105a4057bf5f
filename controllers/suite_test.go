package controllers

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/apicount"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

// The suite runs one API server (etcd + kube-apiserver built from Go modules,
// see test/tools) and one manager with the real controller and Helm. Nothing
// runs Deployments here, so tests mark them available themselves.
var (
	proxies    = newSimulatedProxies()
	injector   = &simulatedInjector{}
	testClock  = &shiftedClock{}
	restConfig *rest.Config
	k8s        client.Client
	reconciler *MeshInstallationReconciler
	scheme     = kubeenv.Scheme()
	// apiCalls counts every request the manager (controller and Helm) sends.
	apiCalls = apicount.NewCounter()
)

func TestMain(m *testing.M) {
	if !kubeenv.Available() {
		fmt.Println(kubeenv.HowToGetAssets)
		os.Exit(1)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))

	env, cfg, err := kubeenv.Start(kubeenv.Options{CRDs: true})
	restConfig = cfg
	if err != nil {
		fmt.Println("start envtest:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	code := func() int {
		mcfg := rest.CopyConfig(cfg)
		mcfg.Wrap(apiCalls.Wrap)
		mgr, err := ctrl.NewManager(mcfg, ctrl.Options{
			Scheme:  scheme,
			Metrics: metricsserver.Options{BindAddress: "0"},
			Cache:   CacheOptions(),
			Client:  ClientOptions(),
		})
		if err != nil {
			fmt.Println("manager:", err)
			return 1
		}
		// Every test's control plane has its own namespace: the trust
		// informer watches them all, so every case runs the cached trial.
		reconciler, err = NewMeshInstallationReconciler(mgr, testClock, Mesh{Proxies: proxies, Injector: injector, InjectorCerts: injector,
			TrustNamespace: trust.AllNamespaces})
		if err != nil {
			fmt.Println("reconciler:", err)
			return 1
		}
		reconciler.Lifecycle.Resync, reconciler.Memo.TTL = resync.interval, resync.memoTTL
		if err := reconciler.SetupWithManager(mgr); err != nil {
			fmt.Println("setup:", err)
			return 1
		}
		go func() {
			defer close(stopped)
			if err := mgr.Start(ctx); err != nil {
				fmt.Println("manager stopped:", err)
			}
		}()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			fmt.Println("cache did not sync")
			return 1
		}
		k8s, err = client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			fmt.Println("client:", err)
			return 1
		}
		return m.Run()
	}()
	cancel()
	select { // let the manager release its watches before the API server stops
	case <-stopped:
	case <-time.After(30 * time.Second):
	}
	if err := env.Stop(); err != nil {
		fmt.Println("stop envtest:", err)
	}
	os.Exit(code)
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
