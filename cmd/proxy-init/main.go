// Command proxy-init installs the NAT rules that route a meshed pod's TCP
// through the proxy; it runs as the pod's init container (with NET_ADMIN).
//
// "proxy-init check [flags]" is the CNI mode's startup check instead: an
// unprivileged init container, run before the proxy, that fails the pod when
// the node's CNI plugin did not install the rules (see netinit.CheckRedirect).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/google/nftables"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

// checkTimeout bounds the check's one connection; a redirected connection
// is accepted within a millisecond.
const checkTimeout = 5 * time.Second

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	args, check := os.Args[1:], false
	if len(args) > 0 && args[0] == "check" {
		args, check = args[1:], true
	}
	cfg, err := netinit.ParseFlags(args, os.Stderr)
	if err != nil {
		log.Error("invalid flags", "err", err)
		os.Exit(2)
	}
	if check {
		os.Exit(runCheck(log, cfg))
	}
	os.Exit(install(log, cfg))
}

func install(log *slog.Logger, cfg netinit.Config) int {
	conn, err := nftables.New()
	if err != nil {
		log.Error("open netlink", "err", err)
		return 1
	}
	plan := netinit.Plan(cfg)
	if err := netinit.Apply(conn, plan); err != nil {
		log.Error("apply redirect rules", "err", err)
		return 1
	}
	for _, r := range plan {
		log.Info("rule installed", "rule", r.String())
	}
	log.Info("proxy-init done", "version", buildinfo.Version, "table", netinit.TableName)
	return 0
}

func runCheck(log *slog.Logger, cfg netinit.Config) int {
	if err := netinit.CheckRedirect(context.Background(), cfg, os.Geteuid(), checkTimeout); err != nil {
		log.Error("meshkeeper: this pod's traffic would bypass its proxy, so it must not start; "+
			"the meshkeeper CNI plugin was not ready on this node when the pod was created: delete the pod to have it recreated",
			"err", err, "version", buildinfo.Version)
		return 1
	}
	log.Info("redirect rules present", "version", buildinfo.Version)
	return 0
}
