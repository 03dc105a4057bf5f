// Package proc starts long-running processes detached from the caller, each
// under coreutils `timeout` so it dies by itself after a maximum lifetime, and
// stops them later by recorded PID only — never by name.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record identifies a started process across invocations of the harness. The
// kernel start time guards against a recycled PID.
type Record struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"startTicks"`
	Log        string `json:"log"`
}

// killAfter is how long `timeout` waits after SIGTERM before SIGKILL.
const killAfter = 15 * time.Second

// Start runs bin with args under `timeout lifetime`, in a new session (so a
// Ctrl-C on the caller's terminal does not reach it), output appended to logPath.
func Start(name, bin string, args []string, logPath string, lifetime time.Duration, env []string) (Record, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Record{}, err
	}
	defer logFile.Close()
	full := append([]string{"--kill-after=" + strconv.Itoa(int(killAfter.Seconds())) + "s",
		strconv.Itoa(int(lifetime.Seconds())) + "s", bin}, args...)
	cmd := exec.Command("timeout", full...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Record{}, fmt.Errorf("start %s: %w", name, err)
	}
	// Reap it if it exits while this process still lives (Up failing midway).
	go func() { _ = cmd.Wait() }()
	ticks, err := startTicks(cmd.Process.Pid)
	if err != nil {
		return Record{}, fmt.Errorf("start %s: %w", name, err)
	}
	return Record{Name: name, PID: cmd.Process.Pid, StartTicks: ticks, Log: logPath}, nil
}

// Alive reports whether the recorded process still runs (zombies count as gone).
func Alive(r Record) bool {
	st, err := readStat(r.PID)
	if err != nil {
		return false
	}
	return st.startTicks == r.StartTicks && st.state != 'Z' && st.state != 'X'
}

// Stop sends SIGTERM to the recorded process (timeout forwards it to its child
// and the whole group), waits up to grace, then SIGKILLs the process group.
func Stop(r Record, grace time.Duration) error {
	if !Alive(r) {
		return nil
	}
	_ = syscall.Kill(r.PID, syscall.SIGTERM)
	if waitGone(r, grace) {
		return nil
	}
	// The group id equals the PID: the process is a session leader.
	_ = syscall.Kill(-r.PID, syscall.SIGKILL)
	if waitGone(r, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) survived SIGKILL", r.Name, r.PID)
}

func waitGone(r Record, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !Alive(r) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return !Alive(r)
}

type stat struct {
	state      byte
	startTicks uint64
}

func startTicks(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.startTicks, err
}

// readStat parses /proc/<pid>/stat; the command name may contain spaces, so
// fields are counted from the last ')'.
func readStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22 -> f[19].
	if len(f) < 20 {
		return stat{}, errors.New("short stat")
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return stat{}, err
	}
	return stat{state: f[0][0], startTicks: ticks}, nil
}

// ChildrenOf lists the PIDs whose parent is pid (from /proc), for finding the
// real server behind a `timeout` wrapper.
func ChildrenOf(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}
