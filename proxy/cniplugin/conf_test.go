package cniplugin

import (
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
)

// prevResult100 is what a bridge + host-local plugin returns, dual stack.
const prevResult100 = `{"cniVersion":"1.0.0",
 "interfaces":[{"name":"mk0","mac":"0a:58:c6:12:00:01"},{"name":"eth0","mac":"0a:58:c6:12:00:07","sandbox":"/var/run/netns/x"}],
 "ips":[{"interface":1,"address":"198.18.0.7/24","gateway":"198.18.0.1"},{"interface":1,"address":"fd00:6d6b::7/64","gateway":"fd00:6d6b::1"}],
 "routes":[{"dst":"0.0.0.0/0","gw":"198.18.0.1"},{"dst":"::/0"}],
 "dns":{"nameservers":["198.18.0.10"],"search":["default.svc.cluster.local"]}}`

func chainedConf(version, prev, runtimeConfig string) []byte {
	s := `{"cniVersion":"` + version + `","name":"mk-net","type":"meshkeeper-cni"`
	if prev != "" {
		s += `,"prevResult":` + prev
	}
	if runtimeConfig != "" {
		s += `,"runtimeConfig":` + runtimeConfig
	}
	return []byte(s + "}")
}

func TestParseConf(t *testing.T) {
	tests := []struct {
		name     string
		stdin    []byte
		needPrev bool
		wantErr  string
		check    func(t *testing.T, c *NetConf)
	}{
		{"chained, with the pod's annotations", chainedConf("1.0.0", prevResult100, `{"io.kubernetes.cri.pod-annotations":{"meshkeeper.io/cni-redirect":"--proxy-uid=2102"}}`), true, "",
			func(t *testing.T, c *NetConf) {
				r, ok := c.PrevResult.(*current.Result)
				if !ok || len(r.IPs) != 2 || r.IPs[1].Address.String() != "fd00:6d6b::7/64" {
					t.Fatalf("prevResult %#v", c.PrevResult)
				}
				if got := c.RuntimeConfig.PodAnnotations["meshkeeper.io/cni-redirect"]; got != "--proxy-uid=2102" {
					t.Fatalf("annotations %v", c.RuntimeConfig.PodAnnotations)
				}
			}},
		{"older cniVersion", chainedConf("0.4.0", strings.Replace(prevResult100, `"1.0.0"`, `"0.4.0"`, 1), ""), true, "",
			func(t *testing.T, c *NetConf) {
				if c.PrevResult == nil || c.RuntimeConfig.PodAnnotations != nil {
					t.Fatalf("prevResult %v, annotations %v", c.PrevResult, c.RuntimeConfig.PodAnnotations)
				}
			}},
		{"not chained, ADD", chainedConf("1.0.0", "", ""), true, "must be chained", nil},
		{"not chained, DEL", chainedConf("1.0.0", "", ""), false, "", nil},
		{"no cniVersion", []byte(`{"name":"mk-net","type":"meshkeeper-cni","prevResult":{}}`), true, "no cniVersion", nil},
		{"not JSON", []byte(`{"cniVersion":`), true, "decode the network configuration", nil},
		{"annotations of the wrong type", chainedConf("1.0.0", prevResult100, `{"io.kubernetes.cri.pod-annotations":["a"]}`), true, "decode the network configuration", nil},
		{"a malformed prevResult", chainedConf("1.0.0", `{"cniVersion":"1.0.0","ips":[{"address":"not-an-ip"}]}`, ""), true, "decode prevResult", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConf(tt.stdin, tt.needPrev)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
