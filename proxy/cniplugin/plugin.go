package cniplugin

import (
	"fmt"
	"log/slog"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"

	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

// The plugin's own CNI error codes (the spec leaves 100 and up to plugins).
const (
	// ErrRedirectAnnotation: the pod asks for a redirect the plugin cannot parse.
	ErrRedirectAnnotation uint = 100
	// ErrApplyRules: the rules could not be installed in the pod's namespace.
	ErrApplyRules uint = 101
	// ErrRulesMissing: CHECK found the pod's rules missing or changed.
	ErrRulesMissing uint = 102
)

// Plugin implements the CNI commands.
type Plugin struct {
	Log *slog.Logger
}

// podArgs are the Kubernetes names the runtime passes in CNI_ARGS; they
// only name the pod in logs and errors.
type podArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_NAME      types.UnmarshallableString //nolint:revive // CNI_ARGS key
}

func podName(cniArgs string) string {
	a := podArgs{}
	a.IgnoreUnknown = true
	if err := types.LoadArgs(cniArgs, &a); err != nil || a.K8S_POD_NAME == "" {
		return "(unnamed)"
	}
	return string(a.K8S_POD_NAMESPACE) + "/" + string(a.K8S_POD_NAME)
}

// Funcs are the commands for skel.PluginMainFuncs.
func (p Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, Status: p.Status}
}

// Add installs the pod's redirect when it carries the proxy, and always
// passes the previous result on unchanged: the plugin adds no interface or
// address, and an unmeshed pod never sees it.
func (p Plugin) Add(args *skel.CmdArgs) error {
	conf, cfg, meshed, err := p.decide(args)
	if err != nil {
		return err
	}
	pod := podName(args.Args)
	if meshed {
		if err := inNetns(args.Netns, func(conn *nftables.Conn) error { return netinit.Apply(conn, netinit.Plan(cfg)) }); err != nil {
			p.Log.Error("redirect rules not installed", "pod", pod, "netns", args.Netns, "err", err)
			return types.NewError(ErrApplyRules, fmt.Sprintf("meshkeeper-cni: pod %s: cannot install the redirect rules", pod), err.Error())
		}
		p.Log.Info("redirect rules installed", "pod", pod, "netns", args.Netns, "inboundPort", cfg.InboundPort,
			"outboundPort", cfg.OutboundPort, "proxyUID", cfg.ProxyUID, "skipInbound", cfg.SkipInboundPorts, "skipOutbound", cfg.SkipOutboundPorts)
	}
	return types.PrintResult(conf.PrevResult, conf.CNIVersion)
}

// Check validates that a meshed pod's namespace holds exactly its plan.
func (p Plugin) Check(args *skel.CmdArgs) error {
	_, cfg, meshed, err := p.decide(args)
	if err != nil || !meshed {
		return err
	}
	if err := inNetns(args.Netns, func(conn *nftables.Conn) error { return netinit.Verify(conn, netinit.Plan(cfg)) }); err != nil {
		return types.NewError(ErrRulesMissing, fmt.Sprintf("meshkeeper-cni: pod %s: redirect rules missing or changed", podName(args.Args)), err.Error())
	}
	return nil
}

// Del has nothing to undo: the rules live in the pod's namespace and go
// with it.
func (p Plugin) Del(*skel.CmdArgs) error { return nil }

// Status reports the plugin ready: it keeps no state and needs no service.
func (p Plugin) Status(*skel.CmdArgs) error { return nil }

// decide parses the configuration and the pod's redirect, mapping failures
// to CNI errors.
func (p Plugin) decide(args *skel.CmdArgs) (*NetConf, netinit.Config, bool, error) {
	conf, err := ParseConf(args.StdinData, true)
	if err != nil {
		return nil, netinit.Config{}, false, types.NewError(types.ErrInvalidNetworkConfig, "meshkeeper-cni: invalid network configuration", err.Error())
	}
	cfg, meshed, err := RedirectFor(conf.RuntimeConfig.PodAnnotations)
	if err != nil {
		pod := podName(args.Args)
		p.Log.Error("invalid redirect annotation", "pod", pod, "err", err)
		return nil, netinit.Config{}, false, types.NewError(ErrRedirectAnnotation, fmt.Sprintf("meshkeeper-cni: pod %s: invalid redirect", pod), err.Error())
	}
	return conf, cfg, meshed, nil
}

// inNetns runs f with an nftables connection into the namespace at path.
// The netlink socket is opened in that namespace by its fd, so no thread of
// the plugin ever switches namespaces.
func inNetns(path string, f func(*nftables.Conn) error) error {
	netns, err := ns.GetNS(path)
	if err != nil {
		return err
	}
	defer netns.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(netns.Fd())))
	if err != nil {
		return fmt.Errorf("open netlink in %s: %w", path, err)
	}
	return f(conn)
}
