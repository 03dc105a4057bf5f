package cniinstall

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var plugin = []byte("#!/bin/false\nthe plugin binary\n")

type node struct {
	bin, conf string
	clock     *clocktesting.FakeClock
	agent     *Agent
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{bin: t.TempDir(), conf: t.TempDir(), clock: clocktesting.NewFakeClock(time.Unix(1e9, 0))}
	n.agent = &Agent{BinDir: n.bin, ConfDir: n.conf, Plugin: plugin, Clock: n.clock, Resync: time.Minute,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	return n
}

func (n *node) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(n.conf, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the agent until the returned stop, which returns Run's error.
func (n *node) start(t *testing.T) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.agent.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// eventually waits for cond, failing after a generous bound: the agent reacts
// to file events, so the test waits for an outcome, not for a duration.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// The whole life on a node: install, a rewrite by another agent repaired,
// and uninstall leaving the node's conflist byte-for-byte as it was, with
// its mode, and no binary or temporary file behind.
func TestAgentLifecycle(t *testing.T) {
	n := newNode(t)
	n.write(t, "10-bridge.conflist", bridge)
	n.write(t, "99-other.conflist", twoPlugins)
	primary := filepath.Join(n.conf, "10-bridge.conflist")
	before := sum(t, primary)
	stop := n.start(t)

	eventually(t, "installed", func() error { return Ready(n.bin, n.conf) })
	if got, _ := os.ReadFile(filepath.Join(n.bin, PluginType)); string(got) != string(plugin) {
		t.Fatalf("installed binary %q", got)
	}
	if other, _ := os.ReadFile(filepath.Join(n.conf, "99-other.conflist")); string(other) != twoPlugins {
		t.Fatal("a conflist the runtime does not use was rewritten")
	}

	// Another agent (the network plugin's) rewrites the file without us.
	n.write(t, "10-bridge.conflist", twoPlugins)
	eventually(t, "repaired", func() error { return Ready(n.bin, n.conf) })
	if got := pluginTypes(t, mustRead(t, primary)); strings.Join(got, ",") != "calico,portmap,"+PluginType {
		t.Fatalf("after the repair, plugins %v", got)
	}
	// It puts the original back.
	n.write(t, "10-bridge.conflist", bridge)
	eventually(t, "repaired again", func() error { return Ready(n.bin, n.conf) })

	if err := stop(); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if sum(t, primary) != before {
		t.Fatalf("after uninstall the conflist is\n%s\nnot the original", mustRead(t, primary))
	}
	if st, _ := os.Stat(primary); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want the original 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(n.bin, PluginType)); !os.IsNotExist(err) {
		t.Fatalf("the plugin binary is still there: %v", err)
	}
	assertOnly(t, n.conf, "10-bridge.conflist", "99-other.conflist")
	assertOnly(t, n.bin)
}

// A node whose network plugin has not written its conflist yet: nothing is
// written to the conf dir, the agent is not ready and says why, and it
// installs as soon as the conflist appears.
func TestAgentWaitsForTheNetworkPlugin(t *testing.T) {
	n := newNode(t)
	n.write(t, "README", "not a configuration")
	n.start(t)
	eventually(t, "binary installed", func() error { return executable(filepath.Join(n.bin, PluginType)) })
	if err := Ready(n.bin, n.conf); err == nil || !strings.Contains(err.Error(), "no network configuration") {
		t.Fatalf("Ready = %v, want no network configuration", err)
	}
	assertOnly(t, n.conf, "README")

	n.write(t, "10-bridge.conflist", bridge)
	eventually(t, "installed once the conflist appears", func() error { return Ready(n.bin, n.conf) })
}

// Files the agent cannot use stay as they are, and the agent unready.
func TestAgentLeavesUnusableFilesAlone(t *testing.T) {
	for _, tc := range []struct{ name, file, content, wantErr string }{
		{"malformed JSON", "10-bridge.conflist", `{"plugins":[{"type":"bridge"}`, "not valid JSON"},
		{"a single-plugin .conf", "05-flannel.conf", `{"cniVersion":"0.3.1","name":"n","type":"flannel"}`, "not a conflist"},
		{"too big to be a conflist", "10-bridge.conflist", strings.Repeat(" ", maxConflist+1) + bridge, "more than a conflist's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			n.write(t, tc.file, tc.content)
			_, changed, err := n.agent.EnsureConf()
			if changed || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("EnsureConf: changed %v, %v; want error %q", changed, err, tc.wantErr)
			}
			if string(mustRead(t, filepath.Join(n.conf, tc.file))) != tc.content {
				t.Fatal("the file was changed")
			}
			assertOnly(t, n.conf, tc.file)
			if err := Ready(n.bin, n.conf); err == nil {
				t.Fatal("ready on an unusable configuration")
			}
		})
	}
}

// counter counts the agent's log records by message.
type counter struct {
	slog.Handler
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Handle(ctx context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Message]++
	c.mu.Unlock()
	return c.Handler.Handle(ctx, r)
}

func (c *counter) get(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[msg]
}

// An agent that strips our entry on every change would make a repair loop;
// repairs are rate limited (the clock stands still here, so only the burst
// passes), and the last change is still repaired once allowed.
func TestAgentRateLimitsARewriteFight(t *testing.T) {
	n := newNode(t)
	logs := &counter{Handler: slog.NewTextHandler(io.Discard, nil), n: map[string]int{}}
	n.agent.Log = slog.New(logs)
	n.write(t, "10-bridge.conflist", bridge)
	n.start(t)
	eventually(t, "installed", func() error { return Ready(n.bin, n.conf) })
	start := logs.get("plugin installed")
	conflist := filepath.Join(n.conf, "10-bridge.conflist")
	for i := 0; i < 60; i++ {
		if err := writeAtomic(n.conf, "10-bridge.conflist", strings.NewReader(bridge), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let any repair in flight land
	if writes := logs.get("plugin installed") - start; writes > repairBurst {
		t.Fatalf("%d repairs with the clock standing still, want at most the burst %d", writes, repairBurst)
	}
	if logs.get("the CNI directories keep changing: repairs rate limited") == 0 {
		t.Fatal("no rate limiting logged")
	}
	eventually(t, "the last rewrite repaired once allowed", func() error {
		n.clock.Step(time.Second)
		return Ready(n.bin, n.conf)
	})
	t.Logf("repairs during the fight: %d; conflist now %d bytes", logs.get("plugin installed")-start, len(mustRead(t, conflist)))
}

// A symlinked primary conflist is what the runtime reads: it is refused
// (replacing the link would detach the file from its owner), not passed
// over for another file the runtime never uses.
func TestAgentRefusesASymlinkedConflist(t *testing.T) {
	n := newNode(t)
	target := filepath.Join(t.TempDir(), "real.conflist")
	if err := os.WriteFile(target, []byte(bridge), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(n.conf, "10-bridge.conflist")); err != nil {
		t.Fatal(err)
	}
	n.write(t, "20-other.conflist", twoPlugins)
	if _, changed, err := n.agent.EnsureConf(); changed || err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("EnsureConf: changed %v, %v", changed, err)
	}
	if string(mustRead(t, target)) != bridge || string(mustRead(t, filepath.Join(n.conf, "20-other.conflist"))) != twoPlugins {
		t.Fatal("a file was changed")
	}
	if err := Ready(n.bin, n.conf); err == nil {
		t.Fatal("ready with a symlinked conflist")
	}
	if err := n.agent.Uninstall(); err != nil {
		t.Fatalf("uninstall past a symlink: %v", err)
	}
}

// A rolling update's overlap: the old pod's uninstall removes the entry and
// the binary while the new pod runs, which puts both back at once.
func TestAgentRepairsAnOlderAgentsUninstall(t *testing.T) {
	n := newNode(t)
	n.write(t, "10-bridge.conflist", bridge)
	n.start(t)
	eventually(t, "installed", func() error { return Ready(n.bin, n.conf) })
	old := &Agent{BinDir: n.bin, ConfDir: n.conf, Log: n.agent.Log}
	if err := old.Uninstall(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reinstalled", func() error { return Ready(n.bin, n.conf) })
}

// The resync repairs what the watch cannot see: here the directory the
// agent watches is replaced by another one.
func TestAgentResyncRepairsAReplacedDir(t *testing.T) {
	n := newNode(t)
	n.write(t, "10-bridge.conflist", bridge)
	n.start(t)
	eventually(t, "installed", func() error { return Ready(n.bin, n.conf) })
	moved := n.bin + ".old"
	if err := os.Rename(n.bin, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(n.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, "restored on resync", func() error {
		n.clock.Step(time.Minute)
		return Ready(n.bin, n.conf)
	})
	_ = os.RemoveAll(moved)
}

// Uninstall also cleans a conflist that was primary earlier in the run, and
// an older agent's conflist that chains us is cleaned the same way.
func TestUninstallCleansEveryConflist(t *testing.T) {
	n := newNode(t)
	withUs, _, err := Insert([]byte(twoPlugins))
	if err != nil {
		t.Fatal(err)
	}
	n.write(t, "10-a.conflist", string(withUs))
	n.write(t, "20-b.conflist", bridge)
	n.write(t, "30-broken.conflist", `{not json`)
	if _, err := n.agent.InstallBinary(); err != nil {
		t.Fatal(err)
	}
	if err := n.agent.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, filepath.Join(n.conf, "10-a.conflist"))); got != twoPlugins {
		t.Fatalf("10-a.conflist = %s", got)
	}
	if got := string(mustRead(t, filepath.Join(n.conf, "20-b.conflist"))); got != bridge {
		t.Fatal("20-b.conflist changed")
	}
	assertOnly(t, n.bin)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, want)
	}
}
