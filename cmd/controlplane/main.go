// Command controlplane runs the mesh control plane. Subcommands:
//
//	controlplane identity  — identity CA (HTTPS :8080) and discovery (HTTPS :8086)
//	controlplane injector  — proxy-injecting mutating webhook (HTTPS :8443)
//
// Both serve /ready, /live and /metrics on --admin-listen.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: controlplane identity|injector [flags]")
		os.Exit(2)
	}
	handler := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	log := slog.New(handler).With("component", os.Args[1], "version", buildinfo.Version)
	slog.SetDefault(log)
	// Libraries that log through logr (controller-runtime's cert watcher) join the same stream.
	ctrllog.SetLogger(logr.FromSlogHandler(handler))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var err error
	switch os.Args[1] {
	case "identity":
		err = runIdentity(ctx, log, os.Args[2:])
	case "injector":
		err = runInjector(ctx, log, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (want identity or injector)", os.Args[1])
	}
	if err != nil {
		log.Error("exiting", "error", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
