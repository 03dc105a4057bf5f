// Command meshkeeper-cni is a chained CNI plugin: the container runtime runs
// it on the node after the network plugin, and it installs a meshed pod's
// redirect rules (the ones proxy-init would) in the pod's network namespace.
// See proxy/cniplugin. With a subcommand (install, ready) it is the plugin's
// node agent instead (proxy/cniinstall), run by the chart's DaemonSet.
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
	// A runtime runs a plugin with CNI_COMMAND set and no arguments; the
	// DaemonSet runs the node agent with a subcommand.
	if os.Getenv("CNI_COMMAND") == "" && len(os.Args) > 1 {
		os.Exit(agentMain(os.Args[1:], os.Stderr))
	}
	// stdout carries the CNI result; logs go to stderr, which runtimes record.
	p := cniplugin.Plugin{Log: slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("plugin", "meshkeeper-cni")}
	skel.PluginMainFuncs(p.Funcs(), version.All, "meshkeeper-cni "+buildinfo.Version)
}
