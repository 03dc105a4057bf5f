// Command benchproxy measures the latency, CPU and memory the mesh proxies
// add on loopback; `make bench-proxy` runs it. It re-executes itself with
// "serve-proxy" to run each proxy in a process of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve-proxy" {
		if err := bench.ServeProxy(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "serve-proxy:", err)
			os.Exit(1)
		}
		return
	}
	rates := flag.String("rates", "1000,2000", "comma-separated request rates (RPS)")
	duration := flag.Duration("duration", 10*time.Second, "measured time per point (max 60s)")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up per point")
	rounds := flag.Int("rounds", 5, "interleaved rounds of every point (1-10)")
	body := flag.Int("body", 1024, "request and response body size in bytes")
	out := flag.String("out", "bin/bench-proxy.md", "file to write the figures to")
	haproxy := flag.String("haproxy", "haproxy", "haproxy binary for the comparison; empty to skip")
	haproxyThreads := flag.Int("haproxy-threads", contract.DefaultProxyCores, "HAProxy nbthread; the default gives it the sidecar's default cores")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	if *haproxyThreads < 1 || *haproxyThreads > runtime.NumCPU() {
		log.Error("invalid haproxy-threads", "threads", *haproxyThreads, "cpus", runtime.NumCPU())
		os.Exit(2)
	}
	if *rounds < 1 || *rounds > 10 {
		log.Error("invalid rounds", "rounds", *rounds)
		os.Exit(2)
	}
	o := bench.Options{Duration: min(*duration, time.Minute), Warmup: *warmup, BodySize: *body, Rounds: *rounds, HAProxyThreads: *haproxyThreads, Log: log}
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 || r > 20000 {
			log.Error("invalid rate", "rate", f)
			os.Exit(2)
		}
		o.Rates = append(o.Rates, r)
	}
	note := fmt.Sprintf("Machine: %d CPUs (GOMAXPROCS %d), %s.", runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))
	if *haproxy != "" {
		if path, err := exec.LookPath(*haproxy); err == nil {
			o.HAProxy = path
			if v, err := exec.Command(path, "-v").Output(); err == nil {
				note += " " + strings.SplitN(string(v), "\n", 2)[0] + "."
				note += fmt.Sprintf(" Threads: meshkeeper GOMAXPROCS %d per proxy (its default cores), HAProxy nbthread %d.", contract.DefaultProxyCores, *haproxyThreads)
			}
		} else {
			log.Warn("haproxy not found; comparison skipped (apt-get install haproxy)")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
	report := bench.Markdown(rep, o, note)
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		log.Error("write report", "err", err)
		os.Exit(1)
	}
	fmt.Print(report)
}
