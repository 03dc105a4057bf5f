// Command benchoperator measures the operator at scale: it runs the real
// manager against a real kube-apiserver and etcd (envtest binaries, no
// kubelet) populated with namespaces, Deployments and meshed pods, and
// writes the figures as Markdown. `make bench-operator` runs it.
//
// Each size runs in a child process of its own, so the resident memory it
// reports belongs to that size alone; that process has the cluster populated
// by another child (apart.go), so the memory is the operator's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

var inf = math.Inf(1)

func main() {
	out := flag.String("out", "bin/bench-operator.md", "where the Markdown report goes")
	points := flag.String("points", "small,large", "the sizes to run, in order (small, large)")
	one := flag.String("point", "", "run one size and print it as JSON (used by the parent process)")
	fill := flag.String("populate", "", "populate one size's cluster (used by a point's process), with -creds")
	creds := flag.String("creds", "", "the API server to populate (a JSON file written by a point's process)")
	flag.Parse()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "[bench-operator] "+f+"\n", a...) }
	if !kubeenv.Available() {
		logf("%s", kubeenv.HowToGetAssets)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *fill != "" {
		if err := populateChild(ctx, *fill, *creds); err != nil {
			logf("populate %s: %v", *fill, err)
			os.Exit(1)
		}
		return
	}
	if *one != "" {
		if err := child(ctx, *one, logf); err != nil {
			logf("%s: %v", *one, err)
			os.Exit(1)
		}
		return
	}
	if err := parent(ctx, strings.Split(*points, ","), *out, logf); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}

func child(ctx context.Context, name string, logf func(string, ...any)) error {
	sz, ok := sizes[name]
	if !ok {
		return fmt.Errorf("unknown size %q (small, large)", name)
	}
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel))) // errors only: logging is not what is measured
	p, err := runPoint(ctx, sz, logf)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(wirePoint(p))
}

func parent(ctx context.Context, names []string, out string, logf func(string, ...any)) error {
	for _, n := range names {
		if _, ok := sizes[n]; !ok {
			return fmt.Errorf("unknown size %q (small, large)", n)
		}
	}
	began := time.Now()
	var results []Point
	for _, n := range names {
		cmd := exec.CommandContext(ctx, os.Args[0], "-point", n)
		cmd.Stderr = os.Stderr
		raw, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("size %s: %w", n, err)
		}
		var w wire
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("size %s: read its figures: %w", n, err)
		}
		results = append(results, w.point())
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	title := fmt.Sprintf("bench-operator: %s (whole run %s)", time.Now().UTC().Format(time.RFC3339), time.Since(began).Round(time.Second))
	if err := Write(f, title, results); err != nil {
		return err
	}
	logf("wrote %s", out)
	return nil
}
