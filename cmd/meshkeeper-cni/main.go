// Command meshkeeper-cni is a chained CNI plugin: the container runtime runs
// it on the node after the network plugin, and it installs a meshed pod's
// redirect rules (the ones proxy-init would) in the pod's network namespace.
// See proxy/cniplugin.
package main

import (
	"log/slog"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/proxy/cniplugin"
)

func main() {
	// stdout carries the CNI result; logs go to stderr, which runtimes record.
	p := cniplugin.Plugin{Log: slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("plugin", "meshkeeper-cni")}
	skel.PluginMainFuncs(p.Funcs(), version.All, "meshkeeper-cni "+buildinfo.Version)
}
