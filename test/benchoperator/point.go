package main

import (
	"context"
	"fmt"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/apicount"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/controllers"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

const (
	installation = "bench"
	controlPlane = "meshkeeper-system"
)

// runPoint runs one size against a fresh API server with the real manager
// wiring (cache and client options, controller, Helm), the probes skipped
// and the proxies played by standInProxies.
func runPoint(ctx context.Context, sz Size, logf func(string, ...any)) (Point, error) {
	began := time.Now()
	p := Point{Name: sz.Name, Namespaces: sz.Namespaces, Deployments: sz.Deployments, Pods: sz.Pods, ChurnRate: sz.ChurnRate}
	env, cfg, err := kubeenv.Start(kubeenv.Options{CRDs: true})
	if err != nil {
		return p, fmt.Errorf("start envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	admin, err := harnessClient(cfg)
	if err != nil {
		return p, err
	}
	counter := apicount.NewCounter()
	mcfg := controllers.WithClientRate(cfg) // what the manager runs with (cmd/manager)
	mcfg.Wrap(counter.Wrap)
	mgr, err := ctrl.NewManager(mcfg, ctrl.Options{Scheme: kubeenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions(), Client: controllers.ClientOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		return p, err
	}
	// The operator's own namespace is the control plane's, as in a cluster.
	rec, err := controllers.NewMeshInstallationReconciler(mgr, clock.RealClock{},
		controllers.Mesh{Proxies: &standInProxies{Client: admin, ControlPlane: controlPlane}, TrustNamespace: controlPlane})
	if err != nil {
		return p, err
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return p, err
	}

	logf("%s: creating %d namespaces, %d Deployments, %d pods", sz.Name, sz.Namespaces, sz.Deployments, sz.Pods)
	if err := populateApart(ctx, cfg, sz); err != nil {
		return p, fmt.Errorf("populate: %w", err)
	}
	pods := podKeys(sz)
	for i := range sz.Namespaces {
		p.Meshed += btoi(meshed(i))
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return p, fmt.Errorf("cache did not sync")
	}
	mi := &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: installation},
		Spec: meshv1.MeshInstallationSpec{Version: proxyVersion, ControlPlane: meshv1.ControlPlaneSpec{Namespace: controlPlane}}}
	if err := admin.Create(ctx, mi); err != nil {
		return p, err
	}
	if err := until(ctx, 5*time.Minute, func() error { return readyInstallation(ctx, admin) }); err != nil {
		return p, fmt.Errorf("installation never Ready: %w", err)
	}
	p.Setup = time.Since(began)
	logf("%s: Ready after %s; settling", sz.Name, p.Setup.Round(time.Second))
	settle(ctx, counter)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.HeapBytes, p.RSSBytes = ms.HeapAlloc, rss()

	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: installation}}
	stopProfile, err := profileNoop(sz.Name)
	if err != nil {
		return p, err
	}
	counter.Reset()
	for range sz.Noop {
		t0 := time.Now()
		if _, err := rec.Reconcile(ctx, req); err != nil {
			return p, fmt.Errorf("no-op reconcile: %w", err)
		}
		p.Noop = append(p.Noop, time.Since(t0))
	}
	p.NoopRequests, p.NoopReconciles = counter.Snapshot(), sz.Noop
	stopProfile()
	p.PacedEvery = controllers.PodEventWindow
	for range sz.Paced {
		time.Sleep(p.PacedEvery)
		t0 := time.Now()
		if _, err := rec.Reconcile(ctx, req); err != nil {
			return p, fmt.Errorf("paced no-op reconcile: %w", err)
		}
		p.NoopPaced = append(p.NoopPaced, time.Since(t0))
	}
	logf("%s: no-op p99 %s back to back, %s paced; %d requests, %d writes", sz.Name, ms2(p.Noop.Percentile(99)), ms2(p.NoopPaced.Percentile(99)), p.NoopRequests.Total(), p.NoopRequests.Writes())

	for i := range 5 {
		d, err := namespaceToBundle(ctx, admin, fmt.Sprintf("bench-new-%d", i))
		if err != nil {
			return p, err
		}
		p.NamespaceToBundle = append(p.NamespaceToBundle, d)
	}

	p.PlanWorkloads, p.Plan, err = planAll(ctx, mgr.GetClient())
	if err != nil {
		return p, err
	}

	if err := churn(ctx, admin, pods, sz, &p); err != nil {
		return p, err
	}
	logf("%s: churn done: queue p99 ≤ %s", sz.Name, secs(p.QueueLatencyP99))

	p.RotationToPromote, err = rotateToPromote(ctx, admin)
	if err != nil {
		p.RotationErr = err.Error()
	}
	p.Took = time.Since(began)
	return p, nil
}

func harnessClient(cfg *rest.Config) (client.Client, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 2000, 4000
	return client.New(c, client.Options{Scheme: kubeenv.Scheme()})
}

func readyInstallation(ctx context.Context, c client.Client) error {
	if err := markAvailable(ctx, c); err != nil {
		return err
	}
	var mi meshv1.MeshInstallation
	if err := c.Get(ctx, client.ObjectKey{Name: installation}, &mi); err != nil {
		return err
	}
	if !meta.IsStatusConditionTrue(mi.Status.Conditions, meshv1.ConditionReady) {
		return fmt.Errorf("not Ready: %v", mi.Status.Conditions)
	}
	return nil
}

// markAvailable plays the Deployment controller for the control plane.
func markAvailable(ctx context.Context, c client.Client) error {
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.InNamespace(controlPlane), client.HasLabels{contract.InstallationLabel}); err != nil {
		return err
	}
	for _, d := range deps.Items {
		if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == *d.Spec.Replicas {
			continue
		}
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
				Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
		if err := c.Status().Update(ctx, &d); err != nil {
			return err
		}
	}
	return nil
}

// settle waits until the operator has made no write for 3 s (at most a minute).
func settle(ctx context.Context, counter *apicount.Counter) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := counter.Snapshot().Writes()
		time.Sleep(3 * time.Second)
		if counter.Snapshot().Writes() == before {
			return
		}
	}
}

func namespaceToBundle(ctx context.Context, c client.Client, name string) (time.Duration, error) {
	t0 := time.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{contract.InjectKey: contract.InjectEnabled}}}
	if err := c.Create(ctx, ns); err != nil {
		return 0, err
	}
	err := until(ctx, time.Minute, func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: name, Name: contract.TrustRootsConfigMap}, &corev1.ConfigMap{})
	})
	return time.Since(t0), err
}

// planAll times what planning an upgrade of every meshed workload costs the
// upgrade machine: group the cached pods into workloads, then plan waves.
func planAll(ctx context.Context, c client.Client) (int, time.Duration, error) {
	t0 := time.Now()
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.HasLabels{contract.ProxyVersionLabel}); err != nil {
		return 0, 0, err
	}
	var rss appsv1.ReplicaSetList
	if err := c.List(ctx, &rss); err != nil {
		return 0, 0, err
	}
	var nss corev1.NamespaceList
	if err := c.List(ctx, &nss); err != nil {
		return 0, 0, err
	}
	labels := map[string]map[string]string{}
	for _, ns := range nss.Items {
		labels[ns.Name] = ns.Labels
	}
	ws := upgrade.MeshedWorkloads(pods.Items, rss.Items, nil)
	if _, err := upgrade.Plan(ws, labels, nil); err != nil {
		return 0, 0, err
	}
	return len(ws), time.Since(t0), nil
}

// churn flips the proxy readiness of random pods at sz.ChurnRate per second
// and reads the controller's work-queue metrics meanwhile.
func churn(ctx context.Context, c client.Client, pods []client.ObjectKey, sz Size, p *Point) error {
	before, err := queueMetrics()
	if err != nil {
		return err
	}
	p.ChurnFor = time.Duration(sz.ChurnFor) * time.Second
	stop := time.Now().Add(p.ChurnFor)
	tick := time.NewTicker(time.Second / time.Duration(sz.ChurnRate))
	defer tick.Stop()
	ready := map[client.ObjectKey]bool{}
	var depths []int
	for time.Now().Before(stop) {
		<-tick.C
		key := pods[rand.IntN(len(pods))]
		var pod corev1.Pod
		if err := c.Get(ctx, key, &pod); err != nil {
			return err
		}
		now, known := ready[key]
		if !known {
			now = true
		}
		if err := setReady(ctx, c, &pod, !now, rand.IntN(1<<20)); err != nil {
			return err
		}
		ready[key] = !now
		p.ChurnChanges++
		if p.ChurnChanges%int(max(sz.ChurnRate/10, 1)) == 0 {
			if m, err := queueMetrics(); err == nil {
				depths = append(depths, m.Depth)
			}
		}
	}
	after, err := queueMetrics()
	if err != nil {
		return err
	}
	lat := SubBuckets(after.Latency, before.Latency)
	p.QueueLatencyP50, _ = HistogramQuantile(0.5, lat)
	p.QueueLatencyP99, _ = HistogramQuantile(0.99, lat)
	p.Reconciles = int(after.Reconciles - before.Reconciles)
	for _, d := range depths {
		p.QueueDepthMax = max(p.QueueDepthMax, d)
	}
	return nil
}

// rotateToPromote asks for an anchor rotation and times it until the
// rotation reaches Promote (or has finished).
func rotateToPromote(ctx context.Context, c client.Client) (time.Duration, error) {
	var mi meshv1.MeshInstallation
	if err := c.Get(ctx, client.ObjectKey{Name: installation}, &mi); err != nil {
		return 0, err
	}
	last := mi.Status.Trust.LastRotation
	token := strconv.FormatInt(time.Now().UnixNano(), 10)
	patch := client.MergeFrom(mi.DeepCopy())
	metav1.SetMetaDataAnnotation(&mi.ObjectMeta, meshv1.RotateAnchorAnnotation, token)
	t0 := time.Now()
	if err := c.Patch(ctx, &mi, patch); err != nil {
		return 0, err
	}
	err := until(ctx, 5*time.Minute, func() error {
		var cur meshv1.MeshInstallation
		if err := c.Get(ctx, client.ObjectKey{Name: installation}, &cur); err != nil {
			return err
		}
		tr := cur.Status.Trust
		if tr.Rotation != nil && string(tr.Rotation.Phase) == "Promote" {
			return nil
		}
		if tr.Rotation == nil && tr.LastRotation != nil && (last == nil || !tr.LastRotation.CompletedAt.Equal(&last.CompletedAt)) {
			return nil
		}
		if tr.Rotation != nil {
			return fmt.Errorf("rotation in %s", tr.Rotation.Phase)
		}
		return fmt.Errorf("rotation not started")
	})
	return time.Since(t0), err
}

func until(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rss is the process's resident set from /proc/self/status (0 when unreadable).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func ms2(d time.Duration) string { return ms(d) }

// profileNoop profiles the back-to-back no-op reconciles when
// $BENCH_CPUPROFILE is set (to see what a pass costs): a CPU profile to
// $BENCH_CPUPROFILE.<size>, and heap profiles before and after the loop to
// .<size>.heap0 and .<size>.heap1 (`go tool pprof -sample_index=alloc_space
// -base heap0 heap1` shows what the passes allocated). The returned func
// stops it.
func profileNoop(size string) (func(), error) {
	dir := os.Getenv("BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}, nil
	}
	base := dir + "." + size
	if err := writeHeap(base + ".heap0"); err != nil {
		return nil, err
	}
	f, err := os.Create(base)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		_ = writeHeap(base + ".heap1")
	}, nil
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}
