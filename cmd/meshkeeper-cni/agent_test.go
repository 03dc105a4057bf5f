package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nodeConflist = `{
  "cniVersion": "1.0.0",
  "name": "meshkeeper",
  "plugins": [
    {"type": "bridge", "bridge": "mk-pods0"}
  ]
}
`

func agentCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), asPlugin+"=1")
	return cmd
}

// The program as the DaemonSet runs it: `install` chains itself in, `ready`
// (the probe) then passes, and SIGTERM (the DaemonSet deleted) leaves the
// node's conflist byte-for-byte as it was, deletes the binary and exits 0.
func TestAgentProgramInstallReadySIGTERM(t *testing.T) {
	bin, conf := t.TempDir(), t.TempDir()
	dirs := []string{"--bin-dir=" + bin, "--conf-dir=" + conf}
	conflist := filepath.Join(conf, "10-meshkeeper.conflist")
	if err := os.WriteFile(conflist, []byte(nodeConflist), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := agentCmd(t, append([]string{"ready"}, dirs...)...).Run(); err == nil {
		t.Fatal("ready before install")
	}
	var logs bytes.Buffer
	agent := agentCmd(t, append([]string{"install"}, dirs...)...)
	agent.Stderr = &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for agentCmd(t, append([]string{"ready"}, dirs...)...).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("never ready; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	self, _ := os.Executable()
	want, _ := os.ReadFile(self)
	if got, _ := os.ReadFile(filepath.Join(bin, "meshkeeper-cni")); !bytes.Equal(got, want) {
		t.Fatal("the installed plugin is not the agent's own binary")
	}
	if got, _ := os.ReadFile(conflist); !strings.Contains(string(got), `"type":"meshkeeper-cni"`) {
		t.Fatalf("conflist:\n%s", got)
	}

	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := agent.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
	}
	if got, _ := os.ReadFile(conflist); string(got) != nodeConflist {
		t.Fatalf("after uninstall the conflist is\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(bin, "meshkeeper-cni")); !os.IsNotExist(err) {
		t.Fatalf("binary left behind: %v", err)
	}
}

func TestAgentProgramUsage(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"install", "extra"}, {"install", "--resync=10ms"}, {"ready", "--nope"}} {
		var stderr bytes.Buffer
		if code := agentMain(args, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
	var stderr bytes.Buffer
	if code := agentMain([]string{"install", "--bin-dir=/nonexistent", "--conf-dir=/nonexistent"}, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "/nonexistent is not a directory") {
		t.Errorf("missing dirs: exit %d, %s", code, stderr.String())
	}
}
