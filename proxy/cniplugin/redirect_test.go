package cniplugin

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

func TestRedirectFor(t *testing.T) {
	redirect := func(v string) map[string]string { return map[string]string{contract.CNIRedirectAnnotation: v} }
	injectorLine := "--proxy-uid=2102 --inbound-port=4143 --outbound-port=4140 --admin-port=4191 --skip-inbound-ports=22,8081"
	tests := []struct {
		name        string
		annotations map[string]string
		want        netinit.Config
		meshed      bool
		wantErr     string
	}{
		{"no annotations: not meshed", nil, netinit.Config{}, false, ""},
		{"other meshkeeper annotations only: not meshed",
			map[string]string{contract.InjectKey: contract.InjectEnabled, contract.InjectedAnnotation: "true"}, netinit.Config{}, false, ""},
		{"the injector's line", redirect(injectorLine),
			netinit.Config{ProxyUID: 2102, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191, SkipInboundPorts: []uint16{22, 8081}}, true, ""},
		{"another proxy user and skipped outbound ports", redirect(" --proxy-uid=1337\n--skip-outbound-ports=3306 "),
			netinit.Config{ProxyUID: 1337, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191, SkipOutboundPorts: []uint16{3306}}, true, ""},
		{"empty value", redirect("  "), netinit.Config{}, true, "is empty"},
		{"bad port", redirect("--skip-inbound-ports=22,x"), netinit.Config{}, true, "skip-inbound-ports"},
		{"port out of range", redirect("--inbound-port=70000"), netinit.Config{}, true, "not a TCP port"},
		{"unknown flag", redirect("--iptables=legacy"), netinit.Config{}, true, "iptables"},
		{"stray argument", redirect("--proxy-uid=2102 rm"), netinit.Config{}, true, "unexpected arguments"},
		{"oversized", redirect(strings.Repeat("--proxy-uid=2102 ", 300)), netinit.Config{}, true, "more than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, meshed, err := RedirectFor(tt.annotations)
			if meshed != tt.meshed {
				t.Fatalf("meshed = %v, want %v", meshed, tt.meshed)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
