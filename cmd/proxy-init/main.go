// Command proxy-init runs as the meshed pod's init container (with NET_ADMIN)
// and installs the NAT rules that route the pod's TCP through the proxy.
package main

import (
	"log/slog"
	"os"

	"github.com/google/nftables"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := netinit.ParseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		log.Error("invalid flags", "err", err)
		os.Exit(2)
	}
	conn, err := nftables.New()
	if err != nil {
		log.Error("open netlink", "err", err)
		os.Exit(1)
	}
	plan := netinit.Plan(cfg)
	if err := netinit.Apply(conn, plan); err != nil {
		log.Error("apply redirect rules", "err", err)
		os.Exit(1)
	}
	for _, r := range plan {
		log.Info("rule installed", "rule", r.String())
	}
	log.Info("proxy-init done", "version", buildinfo.Version, "table", netinit.TableName)
}
