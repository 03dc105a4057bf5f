package netinit

import (
	"flag"
	"fmt"
	"io"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/config"
)

// ParseFlags reads proxy-init's command line:
//
//	--proxy-uid=2102 --inbound-port=4143 --outbound-port=4140 --admin-port=4191
//	--skip-inbound-ports=<csv> --skip-outbound-ports=<csv>
func ParseFlags(args []string, errOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("proxy-init", flag.ContinueOnError)
	fs.SetOutput(errOut)
	uid := fs.Uint("proxy-uid", contract.ProxyUID, "user the proxy runs as; its traffic is never redirected")
	in := fs.Uint("inbound-port", contract.ProxyInboundPort, "proxy inbound port")
	out := fs.Uint("outbound-port", contract.ProxyOutboundPort, "proxy outbound port")
	adm := fs.Uint("admin-port", contract.ProxyAdminPort, "proxy admin port, never redirected")
	skipIn := fs.String("skip-inbound-ports", "", "comma-separated inbound ports that bypass the proxy")
	skipOut := fs.String("skip-outbound-ports", "", "comma-separated outbound ports that bypass the proxy")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c := Config{ProxyUID: uint32(*uid)}
	for _, p := range []struct {
		name string
		v    uint
		dst  *uint16
	}{{"inbound-port", *in, &c.InboundPort}, {"outbound-port", *out, &c.OutboundPort}, {"admin-port", *adm, &c.AdminPort}} {
		if p.v == 0 || p.v > 65535 {
			return Config{}, fmt.Errorf("--%s=%d is not a TCP port", p.name, p.v)
		}
		*p.dst = uint16(p.v)
	}
	var err error
	if c.SkipInboundPorts, err = config.ParsePorts(*skipIn); err != nil {
		return Config{}, fmt.Errorf("--skip-inbound-ports: %w", err)
	}
	if c.SkipOutboundPorts, err = config.ParsePorts(*skipOut); err != nil {
		return Config{}, fmt.Errorf("--skip-outbound-ports: %w", err)
	}
	return c, nil
}
