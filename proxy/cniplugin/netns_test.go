package cniplugin

import (
	"os"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/google/nftables"

	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

// podNetns is a real, bind-mounted network namespace, as the runtime gives
// the plugin. Needs root; skips otherwise.
func podNetns(t *testing.T) ns.NetNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	netns, err := testutils.NewNS()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = netns.Close()
		_ = testutils.UnmountNS(netns)
	})
	return netns
}

func tables(t *testing.T, netns ns.NetNS) []*nftables.Table {
	t.Helper()
	var got []*nftables.Table
	if err := inNetns(netns.Path(), func(conn *nftables.Conn) (err error) {
		got, err = conn.ListTables()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// ADD on a meshed pod installs proxy-init's exact plan (the pod's skip ports
// and proxy user) in the pod's namespace, prints the previous result
// unchanged, and CHECK then passes, until the rules go.
func TestAddMeshedPodInRealNetns(t *testing.T) {
	netns := podNetns(t)
	p, _ := newPlugin()
	stdin := chainedConf("1.0.0", prevResult100, annotations(injectorLine))
	out, err := add(t, p, netns.Path(), stdin)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, out, prevResult100)

	want := netinit.Plan(netinit.Config{ProxyUID: 2102, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191,
		SkipInboundPorts: []uint16{22}, SkipOutboundPorts: []uint16{3306}})
	if err := inNetns(netns.Path(), func(conn *nftables.Conn) error { return netinit.Verify(conn, want) }); err != nil {
		t.Fatalf("the pod's namespace does not hold proxy-init's plan: %v", err)
	}
	if ts := tables(t, netns); len(ts) != 1 || ts[0].Name != netinit.TableName {
		t.Fatalf("tables %v, want only %s", ts, netinit.TableName)
	}
	if err := check(p, netns.Path(), stdin); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	// A different plan (another proxy user) is not what is installed.
	other := chainedConf("1.0.0", prevResult100, annotations("--proxy-uid=1000"))
	if code := cniCode(t, check(p, netns.Path(), other)); code != ErrRulesMissing {
		t.Fatalf("CHECK of another plan: code %d", code)
	}
	// The rules removed (as by an agent flushing the ruleset): CHECK fails.
	if err := inNetns(netns.Path(), func(conn *nftables.Conn) error {
		conn.FlushRuleset()
		return conn.Flush()
	}); err != nil {
		t.Fatal(err)
	}
	if code := cniCode(t, check(p, netns.Path(), stdin)); code != ErrRulesMissing {
		t.Fatalf("CHECK without rules: code %d", code)
	}
	// ADD again (a runtime retry) restores them, once.
	if _, err := add(t, p, netns.Path(), stdin); err != nil {
		t.Fatal(err)
	}
	if err := check(p, netns.Path(), stdin); err != nil {
		t.Fatalf("CHECK after a second ADD: %v", err)
	}
}

// ADD on an unmeshed pod in a real namespace writes nothing there.
func TestAddUnmeshedPodInRealNetns(t *testing.T) {
	netns := podNetns(t)
	p, _ := newPlugin()
	stdin := chainedConf("1.0.0", prevResult100, `{"io.kubernetes.cri.pod-annotations":{"app":"web"}}`)
	out, err := add(t, p, netns.Path(), stdin)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, out, prevResult100)
	if ts := tables(t, netns); len(ts) != 0 {
		t.Fatalf("an unmeshed pod's namespace has tables %v", ts)
	}
}

// A meshed pod with an invalid redirect fails ADD and its namespace is left
// untouched.
func TestAddInvalidRedirectChangesNothing(t *testing.T) {
	netns := podNetns(t)
	p, _ := newPlugin()
	_, err := add(t, p, netns.Path(), chainedConf("1.0.0", prevResult100, annotations("--skip-inbound-ports=22;reboot")))
	if code := cniCode(t, err); code != ErrRedirectAnnotation {
		t.Fatalf("code %d", code)
	}
	if ts := tables(t, netns); len(ts) != 0 {
		t.Fatalf("tables %v after a refused ADD", ts)
	}
}
