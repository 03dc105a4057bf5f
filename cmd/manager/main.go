// Command manager runs the meshkeeper operator.
package main

import (
	"crypto/tls"
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/controllers"
	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

func main() {
	var metricsAddr, metricsCertDir, probeAddr string
	var leaderElect, secureMetrics, enableHTTP2 bool
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the Prometheus metrics endpoint (0 disables it).")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, only to callers whose token may get /metrics (TokenReview + SubjectAccessReview).")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the metrics endpoint; empty: a self-signed certificate.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Serve metrics over HTTP/2 too (off: HTTP/2 Rapid Reset and Stream Cancellation, CVE-2023-44487 / CVE-2023-39325).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&leaderElect, "leader-elect", true, "Elect a leader so only one replica reconciles.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(meshv1.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(controllers.WithClientRate(ctrl.GetConfigOrDie()), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOptions(metricsAddr, metricsCertDir, secureMetrics, enableHTTP2),
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "meshkeeper.mesh.meshkeeper.io",
		Cache:                  controllers.CacheOptions(),
		Client:                 controllers.ClientOptions(),
	})
	if err != nil {
		log.Error(err, "create manager")
		os.Exit(1)
	}
	rec, err := controllers.NewMeshInstallationReconciler(mgr, clock.RealClock{}, controllers.InClusterMesh(mgr))
	if err == nil {
		err = rec.SetupWithManager(mgr)
	}
	if err != nil {
		log.Error(err, "set up controller")
		os.Exit(1)
	}
	utilruntime.Must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	utilruntime.Must(mgr.AddReadyzCheck("readyz", healthz.Ping))

	log.Info("starting meshkeeper operator", "version", buildinfo.Version, "meshVersions", versions.Supported())
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// metricsOptions serves the metrics as kubebuilder v4 scaffolds it: HTTPS, and
// each request's bearer token authenticated (TokenReview) and authorized for
// GET /metrics (SubjectAccessReview; ClusterRole metrics-reader).
func metricsOptions(addr, certDir string, secure, http2 bool) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr, SecureServing: secure, CertDir: certDir}
	if secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if !http2 {
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return opts
}
