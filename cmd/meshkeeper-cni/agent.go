package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/utils/clock"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/proxy/cniinstall"
)

// Where the chart's DaemonSet mounts the node's CNI directories (the host
// paths come from the chart values cni.binDir and cni.confDir).
const (
	defaultBinDir  = "/host/cni/bin"
	defaultConfDir = "/host/cni/net.d"
)

const usage = `usage: meshkeeper-cni install|ready [flags]
  install  install the plugin on this node and keep it installed; uninstall on SIGTERM
  ready    exit 0 when this node runs the plugin (the DaemonSet's readiness probe)
Run with no arguments (CNI_COMMAND set), it is the CNI plugin.`

// agentMain runs the node agent: the same binary as the plugin, so the
// DaemonSet installs exactly the plugin of the release it runs, and an
// upgrade or rollback of the DaemonSet swaps the plugin with it.
func agentMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshkeeper-cni "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin-dir", defaultBinDir, "the node's CNI bin dir, as mounted")
	confDir := fs.String("conf-dir", defaultConfDir, "the node's CNI conf dir, as mounted")
	resync := fs.Duration("resync", time.Minute, "how often to re-check both dirs besides watching the conf dir (at least 1s)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *resync < time.Second {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "ready":
		if err := cniinstall.Ready(*binDir, *confDir); err != nil {
			fmt.Fprintln(stderr, "not ready:", err)
			return 1
		}
		return 0
	case "install":
		log := slog.New(slog.NewJSONHandler(stderr, nil)).With("agent", "meshkeeper-cni", "version", buildinfo.Version)
		if err := install(*binDir, *confDir, *resync, log); err != nil {
			log.Error("meshkeeper-cni agent failed", "err", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
}

func install(binDir, confDir string, resync time.Duration, log *slog.Logger) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	plugin, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("read the plugin binary: %w", err)
	}
	for _, d := range []string{binDir, confDir} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return errors.Join(fmt.Errorf("%s is not a directory (check cni.binDir and cni.confDir)", d), err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a := &cniinstall.Agent{BinDir: binDir, ConfDir: confDir, Plugin: plugin, Log: log, Clock: clock.RealClock{}, Resync: resync}
	log.Info("meshkeeper-cni agent starting", "binDir", binDir, "confDir", confDir)
	return a.Run(ctx)
}
