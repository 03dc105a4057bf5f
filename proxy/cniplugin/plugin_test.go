package cniplugin

import (
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/meshkeeper/meshkeeper/proxy/internal/testlog"
)

const injectorLine = "--proxy-uid=2102 --inbound-port=4143 --outbound-port=4140 --admin-port=4191 --skip-inbound-ports=22 --skip-outbound-ports=3306"

func annotations(v string) string {
	return `{"io.kubernetes.cri.pod-annotations":{"meshkeeper.io/inject":"enabled","meshkeeper.io/cni-redirect":` + strconvQuote(v) + `}}`
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func newPlugin() (Plugin, *testlog.Buffer) {
	logs := &testlog.Buffer{}
	return Plugin{Log: slog.New(slog.NewJSONHandler(logs, nil))}, logs
}

func cmdArgs(netns string, stdin []byte) *skel.CmdArgs {
	return &skel.CmdArgs{ContainerID: "c0ffee", Netns: netns, IfName: "eth0",
		Args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=c0ffee", StdinData: stdin}
}

// add runs ADD as the runtime would and returns what the plugin printed.
func add(t *testing.T, p Plugin, netns string, stdin []byte) ([]byte, error) {
	t.Helper()
	args := cmdArgs(netns, stdin)
	_, out, err := testutils.CmdAddWithArgs(args, func() error { return p.Add(args) })
	return out, err
}

func check(p Plugin, netns string, stdin []byte) error {
	args := cmdArgs(netns, stdin)
	return testutils.CmdCheckWithArgs(args, func() error { return p.Check(args) })
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("printed\n%s\nwant the previous result unchanged\n%s", got, want)
	}
}

func cniCode(t *testing.T, err error) uint {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a CNI error", err, err)
	}
	return e.Code
}

// An unmeshed pod: the previous result comes out unchanged and the pod's
// namespace is never opened (this one does not even exist), so the chain
// cannot break on the plugin's account. No root needed.
func TestAddUnmeshedPassesPrevResultThrough(t *testing.T) {
	p, _ := newPlugin()
	for _, rc := range []string{"", `{}`, `{"io.kubernetes.cri.pod-annotations":{"meshkeeper.io/inject":"disabled"}}`} {
		out, err := add(t, p, "/nonexistent/netns", chainedConf("1.0.0", prevResult100, rc))
		if err != nil {
			t.Fatalf("runtimeConfig %s: ADD failed: %v", rc, err)
		}
		sameJSON(t, out, prevResult100)
		if err := check(p, "/nonexistent/netns", chainedConf("1.0.0", prevResult100, rc)); err != nil {
			t.Fatalf("runtimeConfig %s: CHECK failed: %v", rc, err)
		}
	}
}

// An older cniVersion gets the previous result in that version.
func TestAddPassesPrevResultThroughAtItsVersion(t *testing.T) {
	p, _ := newPlugin()
	prev040 := `{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","mac":"0a:58:c6:12:00:07","sandbox":"/var/run/netns/x"}],
	 "ips":[{"version":"4","interface":0,"address":"198.18.0.7/24","gateway":"198.18.0.1"},{"version":"6","interface":0,"address":"fd00:6d6b::7/64"}],
	 "routes":[{"dst":"0.0.0.0/0","gw":"198.18.0.1"}],"dns":{"nameservers":["198.18.0.10"]}}`
	out, err := add(t, p, "/nonexistent/netns", chainedConf("0.4.0", prev040, ""))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, out, prev040)
}

func TestAddRefusesBadInputClearly(t *testing.T) {
	p, logs := newPlugin()
	tests := []struct {
		name  string
		stdin []byte
		code  uint
		msg   string
	}{
		{"not chained", chainedConf("1.0.0", "", annotations(injectorLine)), types.ErrInvalidNetworkConfig, "must be chained"},
		{"not JSON", []byte("{"), types.ErrInvalidNetworkConfig, "decode"},
		{"a meshed pod with an invalid redirect", chainedConf("1.0.0", prevResult100, annotations("--inbound-port=0")), ErrRedirectAnnotation, "not a TCP port"},
		{"a meshed pod whose namespace is gone", chainedConf("1.0.0", prevResult100, annotations(injectorLine)), ErrApplyRules, "/nonexistent/netns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := add(t, p, "/nonexistent/netns", tt.stdin)
			if code := cniCode(t, err); code != tt.code {
				t.Fatalf("code %d, want %d (%v)", code, tt.code, err)
			}
			var e *types.Error
			errors.As(err, &e)
			if !strings.Contains(e.Msg+" "+e.Details, tt.msg) || !strings.HasPrefix(e.Msg, "meshkeeper-cni: ") {
				t.Fatalf("error %q / %q, want it to say %q", e.Msg, e.Details, tt.msg)
			}
		})
	}
	if !strings.Contains(logs.String(), `"pod":"shop/web-0"`) {
		t.Fatalf("logs do not name the pod:\n%s", logs.String())
	}
}

func TestDelDoesNothing(t *testing.T) {
	p, _ := newPlugin()
	args := cmdArgs("/nonexistent/netns", chainedConf("1.0.0", "", annotations(injectorLine)))
	if err := testutils.CmdDelWithArgs(args, func() error { return p.Del(args) }); err != nil {
		t.Fatal(err)
	}
}

func TestPodName(t *testing.T) {
	for in, want := range map[string]string{
		"K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0":  "shop/web-0",
		"IgnoreUnknown=1;K8S_POD_NAME=web-0;OTHER=x": "/web-0",
		"":                       "(unnamed)",
		"garbage-without-equals": "(unnamed)",
		"K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;UNKNOWN=1": "shop/web-0",
	} {
		if got := podName(in); got != want {
			t.Errorf("podName(%q) = %q, want %q", in, got, want)
		}
	}
}
