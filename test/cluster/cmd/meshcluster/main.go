// Command meshcluster runs meshkeeper's local Kubernetes cluster:
//
//	meshcluster up       start it (prints the kubeconfig path on stdout)
//	meshcluster down     stop it and restore the host
//	meshcluster status   show processes, node and pods
//	meshcluster logs DIR copy every component log and events into DIR
//
// See test/cluster/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meshkeeper/meshkeeper/test/cluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	workDir := fs.String("work-dir", "", "cluster work dir (default $MESHKEEPER_CLUSTER_DIR or "+cluster.DefaultWorkDir+")")
	repo := fs.String("repo", ".", "meshkeeper checkout")
	lifetime := fs.Duration("lifetime", lifetimeDefault(), "maximum lifetime of every cluster process ($MESHKEEPER_CLUSTER_LIFETIME)")
	keepLogs := fs.String("keep-logs", "", "down: copy component logs here first")
	_ = fs.Parse(os.Args[2:])

	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "[cluster] "+format+"\n", args...) }
	o := cluster.Options{WorkDir: *workDir, RepoDir: *repo, Lifetime: *lifetime, Log: logf}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd {
	case "up":
		var kubeconfig string
		kubeconfig, err = cluster.Up(ctx, o)
		if err == nil {
			fmt.Println(kubeconfig)
		}
	case "down":
		// Not bound to ctx: an interrupted teardown would leave the host dirty.
		err = cluster.Down(context.Background(), o, cluster.DownOptions{KeepLogsIn: *keepLogs})
	case "status":
		err = cluster.Status(ctx, o, os.Stdout)
		if errors.Is(err, cluster.ErrNoCluster) {
			fmt.Println("no local cluster is running")
			os.Exit(3)
		}
	case "logs":
		if fs.NArg() != 1 {
			usage()
		}
		err = cluster.CollectLogs(ctx, o, fs.Arg(0))
	case "reap":
		err = cluster.Reap(ctx, o)
	default:
		usage()
	}
	if err != nil {
		logf("%s failed: %v", cmd, err)
		os.Exit(1)
	}
}

func lifetimeDefault() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MESHKEEPER_CLUSTER_LIFETIME")); err == nil && d > 0 {
		return d
	}
	return 4 * time.Hour
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: meshcluster up|down|status|logs DIR [-work-dir DIR] [-repo DIR] [-lifetime D] [-keep-logs DIR]")
	os.Exit(2)
}
