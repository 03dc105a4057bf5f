package cniinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// Agent keeps the plugin installed on one node.
type Agent struct {
	// BinDir and ConfDir are the node's CNI directories, as mounted.
	BinDir, ConfDir string
	// Plugin is the plugin binary to install: the agent's own executable,
	// so the node runs exactly the plugin of the release the DaemonSet runs.
	Plugin []byte
	Log    *slog.Logger
	Clock  clock.WithTicker
	// Resync re-checks both directories besides the watch, which misses
	// changes made while it is being set up or when a directory is replaced.
	Resync time.Duration
}

// Run installs the plugin, keeps it installed until ctx ends (the pod's
// SIGTERM), then uninstalls it. A node without a conflist yet is not an
// error: the agent stays unready and installs once the network plugin
// writes one.
func (a *Agent) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for _, d := range []string{a.ConfDir, a.BinDir} {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
	}
	tick := a.Clock.NewTicker(a.Resync)
	defer tick.Stop()
	// Repairs are rate limited: an agent that strips our entry whenever the
	// file changes would otherwise rewrite it with us as fast as both can.
	// A limited change is not dropped: one reconcile runs when allowed.
	limit := rate.NewLimiter(repairRate, repairBurst)
	var retry <-chan time.Time
	a.reconcile("start")
	for {
		select {
		case <-ctx.Done():
			return a.Uninstall()
		case ev := <-w.Events:
			if !a.concerns(ev.Name) || retry != nil {
				continue // nothing of ours, or a reconcile is already due
			}
			now := a.Clock.Now()
			if r := limit.ReserveN(now, 1); r.DelayFrom(now) > 0 {
				a.Log.Warn("the CNI directories keep changing: repairs rate limited", "event", ev.String(), "delay", r.DelayFrom(now))
				retry = a.Clock.NewTimer(r.DelayFrom(now)).C()
				continue
			}
			a.reconcile("changed: " + ev.String())
		case <-retry:
			retry = nil
			a.reconcile("changed (rate limited)")
		case err := <-w.Errors:
			a.Log.Error("watching the CNI directories", "err", err)
		case <-tick.C():
			a.reconcile("resync")
		}
	}
}

// The repair rate: far above what a network plugin rewriting its own
// configuration needs, far below a busy loop.
const (
	repairRate  = rate.Limit(5)
	repairBurst = 10
)

// concerns picks the events worth a reconcile: any file of the conf dir but
// our own temporary ones, and only our binary in the bin dir, where other
// plugins' installers write too. Watching the binary matters in a rolling
// update: the old pod's uninstall deletes it while the new pod runs.
func (a *Agent) concerns(path string) bool {
	name := filepath.Base(path)
	if filepath.Dir(path) == filepath.Clean(a.BinDir) {
		return name == PluginType
	}
	return !strings.HasPrefix(name, ".meshkeeper-cni-")
}

// reconcile installs what is missing; its errors leave the agent unready
// (the readiness probe reads the node's files) and are retried on the next
// change or resync.
func (a *Agent) reconcile(why string) {
	bin, err := a.InstallBinary()
	if err != nil {
		a.Log.Error("cannot install the plugin binary", "dir", a.BinDir, "err", err)
		return
	}
	conf, changed, err := a.EnsureConf()
	if err != nil {
		a.Log.Error("cannot chain the plugin into the node's network configuration", "dir", a.ConfDir, "err", err)
		return
	}
	if bin || changed {
		a.Log.Info("plugin installed", "reason", why, "conflist", conf, "binaryWritten", bin, "conflistWritten", changed)
	}
}

// InstallBinary writes the plugin into the bin dir unless it is there already.
func (a *Agent) InstallBinary() (bool, error) {
	if sameFile(filepath.Join(a.BinDir, PluginType), a.Plugin) {
		return false, nil
	}
	return true, writeAtomic(a.BinDir, PluginType, bytes.NewReader(a.Plugin), 0o755)
}

// EnsureConf chains the plugin into the node's primary conflist. It writes
// nothing when the file cannot be used.
func (a *Agent) EnsureConf() (string, bool, error) {
	names, err := configCandidates(a.ConfDir)
	if err != nil {
		return "", false, err
	}
	name, err := Primary(names)
	if err != nil {
		return "", false, err
	}
	path := filepath.Join(a.ConfDir, name)
	raw, mode, err := readConf(path)
	if err != nil {
		return path, false, err
	}
	out, changed, err := Insert(raw)
	if err != nil {
		return path, false, fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return path, false, nil
	}
	return path, true, writeAtomic(a.ConfDir, name, bytes.NewReader(out), mode)
}

// Uninstall takes the plugin out of every conflist that chains it (the
// primary may have changed while it ran), then deletes its binary: in that
// order, so the runtime never reads a conflist naming a missing plugin.
// Removal cuts exactly the bytes Insert added, so a file nobody else
// touched is back byte-for-byte.
func (a *Agent) Uninstall() error {
	names, err := configCandidates(a.ConfDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if filepath.Ext(name) != ".conflist" {
			continue
		}
		if err := a.removeFrom(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the binary: a conflist still names it
	}
	if err := os.Remove(filepath.Join(a.BinDir, PluginType)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	a.Log.Info("plugin uninstalled", "binDir", a.BinDir, "confDir", a.ConfDir)
	return nil
}

func (a *Agent) removeFrom(name string) error {
	path := filepath.Join(a.ConfDir, name)
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
		return err // never ours: the agent writes plain files only
	}
	raw, mode, err := readConf(path)
	if err != nil {
		return err
	}
	if !bytes.Contains(raw, []byte(PluginType)) {
		return nil // not ours to parse, whatever it holds
	}
	out, changed, err := Remove(raw)
	if err != nil || !changed {
		return err
	}
	if err := writeAtomic(a.ConfDir, name, bytes.NewReader(out), mode); err != nil {
		return err
	}
	a.Log.Info("removed from the conflist", "conflist", path)
	return nil
}

// Ready reports whether the node runs the plugin: its binary is in the bin
// dir and the node's primary conflist chains it. It reads the node's files,
// not the agent's memory, so the readiness probe sees what the runtime sees.
func Ready(binDir, confDir string) error {
	if err := executable(filepath.Join(binDir, PluginType)); err != nil {
		return err
	}
	names, err := configCandidates(confDir)
	if err != nil {
		return err
	}
	name, err := Primary(names)
	if err != nil {
		return err
	}
	raw, _, err := readConf(filepath.Join(confDir, name))
	if err != nil {
		return err
	}
	ok, err := Installed(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("%s does not chain %s", name, PluginType)
	}
	return nil
}
