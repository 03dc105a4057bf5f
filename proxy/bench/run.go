// Package bench measures the latency the mesh adds on loopback:
// client → outbound proxy → mTLS → inbound proxy → app, against the same
// calls made directly, and against an HAProxy pair doing the same mTLS hop.
// Load is open-model (constant rate, vegeta) to 127.0.0.1 only, bounded in
// rate and time.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Options bounds a run.
type Options struct {
	Rates    []int
	Duration time.Duration
	Warmup   time.Duration
	BodySize int
	// Rounds repeats every (rate, setup) point, the setups interleaved and
	// their order rotated each time, so a noisy moment of a shared machine
	// lands on one point of one round rather than on one setup.
	Rounds int
	// HAProxy is the haproxy binary; empty skips the comparison.
	HAProxy string
	// HAProxyThreads is HAProxy's nbthread. Side by side means the same
	// cores: a meshkeeper sidecar runs its Go code on
	// contract.DefaultProxyCores threads (GOMAXPROCS), so does HAProxy.
	HAProxyThreads int
	Log            *slog.Logger
}

// Result is one setup at one rate in one round.
type Result struct {
	Setup           string
	Rate            int
	Round           int
	Requests        uint64
	Success         float64
	P50, P99, P999  time.Duration
	ProxyCPUPer1000 float64 // CPU cores used by the proxy pair per 1000 RPS
	PerProxyRSSKiB  []int64 // resident memory of each proxy (client, server) after the attack
	ProxyProcesses  int
	// Errors are vegeta's distinct error strings, if any request failed.
	Errors []string
}

// Report is a whole run: every attack, and each setup's memory before any load.
type Report struct {
	Results []Result
	// IdleRSSKiB is each proxy's resident memory once ready, before traffic.
	IdleRSSKiB map[string][]int64
}

// setup is a way of reaching the app and the processes doing it.
type setup struct {
	name   string
	target string
	pids   []int
	stop   func()
	// inbound is the server proxy's inbound listener, the one other pods reach.
	inbound string
}

// Run starts every setup, then attacks each at every rate for o.Rounds
// interleaved rounds.
func Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{IdleRSSKiB: map[string][]int64{}}
	dir, appAddr, anchor, cleanup, err := prepare("bench-proxy-")
	if err != nil {
		return rep, err
	}
	defer cleanup()

	starts := []func() (*setup, error){
		func() (*setup, error) { return &setup{name: "direct", target: appAddr, stop: func() {}}, nil },
		func() (*setup, error) { return startMeshkeeper(ctx, dir, appAddr) },
	}
	if o.HAProxy != "" {
		if err := writeHAProxyFiles(dir, anchor); err != nil {
			return rep, err
		}
		starts = append(starts, func() (*setup, error) { return startHAProxy(ctx, o.HAProxy, o.HAProxyThreads, dir, appAddr) })
	}
	var setups []*setup
	defer func() {
		for _, s := range setups {
			s.stop()
		}
	}()
	for _, start := range starts {
		s, err := start()
		if err != nil {
			return rep, err
		}
		setups = append(setups, s)
	}
	for _, s := range setups {
		idle, err := samplePids(s.pids)
		if err != nil {
			return rep, err
		}
		for _, p := range idle {
			rep.IdleRSSKiB[s.name] = append(rep.IdleRSSKiB[s.name], p.rssKiB)
		}
	}

	body := bytes.Repeat([]byte("m"), o.BodySize)
	for round := 1; round <= max(o.Rounds, 1); round++ {
		for i, rate := range o.Rates {
			for _, s := range rotated(setups, round+i) {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				o.Log.Info("attacking", "round", round, "setup", s.name, "rate", rate, "duration", o.Duration)
				r, err := measure(s, rate, o, body)
				if err != nil {
					return rep, err
				}
				r.Round = round
				rep.Results = append(rep.Results, r)
			}
		}
	}
	return rep, nil
}

// rotated returns the setups starting at index k (mod len).
func rotated(setups []*setup, k int) []*setup {
	k %= len(setups)
	return append(append([]*setup{}, setups[k:]...), setups[:k]...)
}

func measure(s *setup, rate int, o Options, body []byte) (Result, error) {
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodPost, URL: "http://" + s.target + "/echo", Body: body})
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	// An attacker stops for good after one attack; sharing the client keeps
	// the warmed-up keep-alive connections for the measured attack.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute, DisableCompression: true}}
	newAttacker := func() *vegeta.Attacker { return vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(4096)) }
	defer client.CloseIdleConnections()
	for range newAttacker().Attack(targeter, pacer, o.Warmup, "warmup") {
	}
	before, err := samplePids(s.pids)
	if err != nil {
		return Result{}, err
	}
	var m vegeta.Metrics
	for res := range newAttacker().Attack(targeter, pacer, o.Duration, s.name) {
		m.Add(res)
	}
	m.Close()
	after, err := samplePids(s.pids)
	if err != nil {
		return Result{}, err
	}
	r := Result{Setup: s.name, Rate: rate, Requests: m.Requests, Success: m.Success,
		P50: m.Latencies.P50, P99: m.Latencies.P99, P999: m.Latencies.Quantile(0.999), ProxyProcesses: len(s.pids), Errors: m.Errors}
	for _, p := range after {
		r.PerProxyRSSKiB = append(r.PerProxyRSSKiB, p.rssKiB)
	}
	if len(s.pids) > 0 {
		cores := cpuSpent(before, after).Seconds() / m.Duration.Seconds()
		r.ProxyCPUPer1000 = cores / (float64(rate) / 1000)
	}
	return r, nil
}

func samplePids(pids []int) ([]procSample, error) {
	out := make([]procSample, len(pids))
	for i, pid := range pids {
		s, err := sampleProc(pid)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// startMeshkeeper runs the two proxies as child processes of this binary.
func startMeshkeeper(ctx context.Context, dir, appAddr string) (*setup, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	serverIn, serverAdmin, clientOut, clientAdmin := ports[0], ports[1], ports[2], ports[3]
	server, err := startChild(ctx, "serve-proxy", "--role=server", "--dir="+dir, "--inbound="+serverIn, "--admin="+serverAdmin, "--orig-dst="+appAddr)
	if err != nil {
		return nil, err
	}
	client, err := startChild(ctx, "serve-proxy", "--role=client", "--dir="+dir, "--outbound="+clientOut, "--admin="+clientAdmin,
		"--orig-dst=198.19.0.5:80", "--endpoint="+serverIn)
	if err != nil {
		stopProc(server)
		return nil, err
	}
	for _, admin := range []string{serverAdmin, clientAdmin} {
		if err := waitHTTP(ctx, "http://"+admin+contract.ReadyPath); err != nil {
			stopProc(server)
			stopProc(client)
			return nil, err
		}
	}
	return &setup{name: "meshkeeper", target: clientOut, pids: []int{client.Process.Pid, server.Process.Pid},
		stop: func() { stopProc(client); stopProc(server) }, inbound: serverIn}, nil
}

func startHAProxy(ctx context.Context, bin string, threads int, dir, appAddr string) (*setup, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	serverIn, clientIn := ports[0], ports[1]
	var procs []*exec.Cmd
	for _, c := range []struct{ role, listen, next string }{{"server", serverIn, appAddr}, {"client", clientIn, serverIn}} {
		path := filepath.Join(dir, "haproxy-"+c.role+".cfg")
		if err := writeFile(path, haproxyConfig(c.role, dir, c.listen, c.next, threads)); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, bin, "-db", "-f", path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, cmd)
	}
	stop := func() {
		for _, p := range procs {
			stopProc(p)
		}
	}
	if err := waitHTTPPost(ctx, "http://"+clientIn+"/echo"); err != nil {
		stop()
		return nil, fmt.Errorf("haproxy pair not answering: %w", err)
	}
	return &setup{name: "haproxy", target: clientIn, pids: []int{procs[1].Process.Pid, procs[0].Process.Pid}, stop: stop}, nil
}

func startChild(ctx context.Context, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

func stopProc(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// waitHTTP polls a readiness URL for up to 10 s (startup, not logic).
func waitHTTP(ctx context.Context, url string) error {
	return poll(ctx, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitHTTPPost(ctx context.Context, url string) error {
	return poll(ctx, func() bool {
		resp, err := http.Post(url, "application/octet-stream", bytes.NewReader([]byte("x")))
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && string(b) == "x"
	})
}

func poll(ctx context.Context, ok func() bool) error {
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not ready within 10s")
		case <-tick.C:
		}
	}
	return nil
}

// prepare writes a fresh mesh CA into a temporary directory and starts the
// backend app: what every benchmark's proxies are set up against. cleanup
// stops the app and removes the directory.
func prepare(prefix string) (dir, appAddr string, anchor *ca, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, nil, err
	}
	anchor, err = newCA()
	if err == nil {
		err = anchor.write(dir)
	}
	var stopApp func() error
	if err == nil {
		appAddr, stopApp, err = startApp()
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, nil, err
	}
	return dir, appAddr, anchor, func() { _ = stopApp(); os.RemoveAll(dir) }, nil
}
