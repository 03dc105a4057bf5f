// Command proxy is the meshkeeper data-plane sidecar. It takes no arguments:
// the injector configures it entirely through MESHKEEPER_* environment variables.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/proxy/config"
	"github.com/meshkeeper/meshkeeper/proxy/sidecar"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		slog.Error("invalid proxy configuration", "err", err)
		os.Exit(2)
	}
	cfg.ScopeFault(buildinfo.Version)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	log.Debug("go memory limit", "bytes", sidecar.TuneMemory(os.Getenv))
	log.Debug("go scheduler threads", "gomaxprocs", sidecar.TuneCPU(cfg.Cores, os.Getenv))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := sidecar.Run(ctx, sidecar.Options{Config: cfg, Version: buildinfo.Version, Log: log}); err != nil {
		log.Error("proxy stopped", "err", err)
		os.Exit(1)
	}
}
