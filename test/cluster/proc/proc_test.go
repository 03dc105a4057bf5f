package proc

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func needTimeout(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skip("coreutils timeout not installed")
	}
}

func TestStartAndStopByPID(t *testing.T) {
	needTimeout(t)
	r, err := Start("sleeper", "sleep", []string{"300"}, filepath.Join(t.TempDir(), "log"), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(r) {
		t.Fatal("just started, not alive")
	}
	// timeout forks its child right after it starts: give it a moment on a busy machine.
	deadline := time.Now().Add(5 * time.Second)
	for len(ChildrenOf(r.PID)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(ChildrenOf(r.PID)) != 1 {
		t.Fatalf("timeout wrapper should have one child, has %v", ChildrenOf(r.PID))
	}
	if err := Stop(r, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if Alive(r) {
		t.Fatal("still alive after Stop")
	}
}

func TestLifetimeEndsProcess(t *testing.T) {
	needTimeout(t)
	r, err := Start("short", "sleep", []string{"300"}, filepath.Join(t.TempDir(), "log"), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for Alive(r) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if Alive(r) {
		_ = Stop(r, time.Second)
		t.Fatal("process outlived its lifetime")
	}
}

func TestRecycledPIDIsNotOurs(t *testing.T) {
	needTimeout(t)
	r, err := Start("sleeper", "sleep", []string{"300"}, filepath.Join(t.TempDir(), "log"), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer Stop(r, 5*time.Second)
	other := r
	other.StartTicks++ // same PID, different start time: another process
	if Alive(other) {
		t.Fatal("a record with a different start time must not match")
	}
	if err := Stop(other, time.Second); err != nil || !Alive(r) {
		t.Fatal("Stop must leave a process it does not own alone")
	}
}
