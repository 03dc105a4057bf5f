package netinit

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// TestVerifyInThrowawayNetns: Verify accepts exactly the installed plan and
// names what differs otherwise. Needs root; skips otherwise.
func TestVerifyInThrowawayNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- "skip: " + err.Error()
			return
		}
		verifyCases(t)
		done <- ""
	}()
	if msg := <-done; msg != "" {
		t.Skip(msg)
	}
}

func verifyCases(t *testing.T) {
	conn, err := nftables.New()
	if err != nil {
		t.Error(err)
		return
	}
	cfg := Config{ProxyUID: 2102, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191, SkipInboundPorts: []uint16{22}}
	if err := Verify(conn, Plan(cfg)); err == nil || !strings.Contains(err.Error(), "prerouting") {
		t.Errorf("no table: Verify = %v, want an error", err)
	}
	if err := Apply(conn, Plan(cfg)); err != nil {
		t.Error(err)
		return
	}
	if err := Verify(conn, Plan(cfg)); err != nil {
		t.Errorf("installed plan: Verify = %v", err)
	}
	moreSkips := cfg
	moreSkips.SkipOutboundPorts = []uint16{3306}
	if err := Verify(conn, Plan(moreSkips)); err == nil || !strings.Contains(err.Error(), "chain output") {
		t.Errorf("a missing skip rule: Verify = %v, want an output chain error", err)
	}
	otherPort := cfg
	otherPort.SkipInboundPorts = []uint16{23}
	if err := Verify(conn, Plan(otherPort)); err == nil || !strings.Contains(err.Error(), "dport 23") {
		t.Errorf("a different skip port: Verify = %v, want the rule named", err)
	}
	otherUID := cfg
	otherUID.ProxyUID = 1000
	if err := Verify(conn, Plan(otherUID)); err == nil || !strings.Contains(err.Error(), "skuid 1000") {
		t.Errorf("a different proxy user: Verify = %v, want the rule named", err)
	}
}
