package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/meshkeeper/meshkeeper/proxy/cniplugin"
)

// asPlugin makes the test binary run main(), so the tests below invoke the
// real program as a runtime does (libcni's invoke: environment, stdin,
// stdout, exit code).
const asPlugin = "MESHKEEPER_CNI_TEST_AS_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(asPlugin) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const prev = `{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/x"}],
 "ips":[{"interface":0,"address":"198.18.0.7/24","gateway":"198.18.0.1"},{"interface":0,"address":"fd00:6d6b::7/64"}],
 "routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["198.18.0.10"]}}`

func conf(redirect string) []byte {
	rc := `{"io.kubernetes.cri.pod-annotations":{"app":"web"}}`
	if redirect != "" {
		rc = `{"io.kubernetes.cri.pod-annotations":{"meshkeeper.io/cni-redirect":"` + redirect + `"}}`
	}
	return []byte(`{"cniVersion":"1.0.0","name":"mk-net","type":"meshkeeper-cni","prevResult":` + prev + `,"runtimeConfig":` + rc + `}`)
}

func run(t *testing.T, command, netns string, stdin []byte) (types.Result, error) {
	t.Helper()
	t.Setenv(asPlugin, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := &invoke.Args{Command: command, ContainerID: "c0ffee", NetNS: netns, IfName: "eth0",
		PluginArgsStr: "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0", Path: "/opt/cni/bin"}
	if command == "ADD" {
		return invoke.ExecPluginWithResult(context.Background(), self, stdin, args, nil)
	}
	return nil, invoke.ExecPluginWithoutResult(context.Background(), self, stdin, args, nil)
}

func TestProgramPassesUnmeshedPodsThrough(t *testing.T) {
	got, err := run(t, "ADD", "/nonexistent/netns", conf(""))
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	b, _ := json.Marshal(got)
	_ = json.Unmarshal(b, &g)
	_ = json.Unmarshal([]byte(prev), &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("result %s, want the previous one %s", b, prev)
	}
	if _, err := run(t, "DEL", "/nonexistent/netns", conf("")); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}

func TestProgramReportsCNIErrors(t *testing.T) {
	_, err := run(t, "ADD", "/nonexistent/netns", conf("--inbound-port=0"))
	var e *types.Error
	if !errors.As(err, &e) || e.Code != cniplugin.ErrRedirectAnnotation {
		t.Fatalf("err %v (%T), want CNI error %d", err, err, cniplugin.ErrRedirectAnnotation)
	}
}

func TestProgramVersions(t *testing.T) {
	t.Setenv(asPlugin, "1")
	self, _ := os.Executable()
	info, err := invoke.GetVersionInfo(context.Background(), self, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0.4.0", "1.0.0"} {
		if !slices.Contains(info.SupportedVersions(), v) {
			t.Errorf("versions %v lack %s", info.SupportedVersions(), v)
		}
	}
}

// The program installs and checks a meshed pod's rules in a real
// namespace. Needs root.
func TestProgramMeshedPodInRealNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	netns, err := testutils.NewNS()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { _ = netns.Close(); _ = testutils.UnmountNS(netns) })
	redirect := "--proxy-uid=2102 --skip-inbound-ports=22"
	if _, err := run(t, "ADD", netns.Path(), conf(redirect)); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "CHECK", netns.Path(), conf(redirect)); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	var e *types.Error
	if _, err := run(t, "CHECK", netns.Path(), conf("--proxy-uid=2102 --skip-inbound-ports=23")); !errors.As(err, &e) || e.Code != cniplugin.ErrRulesMissing {
		t.Fatalf("CHECK of another plan: %v, want CNI error %d", err, cniplugin.ErrRulesMissing)
	}
}
