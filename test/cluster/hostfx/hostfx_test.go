package hostfx

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestCIDRMask(t *testing.T) {
	for _, tc := range []struct{ cidr, ip, mask string }{
		{"198.18.0.0/15", "198.18.0.0", "255.254.0.0"},
		{"198.19.0.0/24", "198.19.0.0", "255.255.255.0"},
		{"10.0.0.1/32", "10.0.0.1", "255.255.255.255"},
	} {
		ip, mask, err := cidrMask(tc.cidr)
		if err != nil || ip != tc.ip || mask != tc.mask {
			t.Errorf("cidrMask(%s) = %s %s %v, want %s %s", tc.cidr, ip, mask, err, tc.ip, tc.mask)
		}
	}
	if _, _, err := cidrMask("not-a-cidr"); err == nil {
		t.Error("want an error for garbage")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/var/lib/with\040space/x`); got != "/var/lib/with space/x" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMount("/plain"); got != "/plain" {
		t.Errorf("got %q", got)
	}
}

func TestListeningPortsSeesARealListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if got := ListeningPorts([]int{port}); len(got) != 1 {
		t.Fatalf("listener on %d not seen: %v", port, got)
	}
	if PortsFree([]int{port}) == nil {
		t.Fatal("PortsFree accepted a busy port")
	}
	l.Close()
	if got := ListeningPorts([]int{port}); len(got) != 0 {
		t.Fatalf("closed listener still reported: %v", got)
	}
}

// The CI teardown failed once on conntrack's own race: an entry listed for
// deletion expired before its delete ("such conntrack doesn't exist", exit 1).
func TestDeleteConntrackRetriesTheExpiryRace(t *testing.T) {
	race := "tcp 6 93 TIME_WAIT src=198.18.10.1 dst=198.18.10.98\nconntrack v1.4.7 (conntrack-tools): Operation failed: such conntrack doesn't exist"
	exit1 := errors.New("exit status 1")
	for _, tc := range []struct {
		name    string
		outs    []string
		errs    []error
		calls   int
		wantErr string
	}{
		{"deleted", []string{"conntrack v1.4.7: 12 flow entries have been deleted."}, []error{nil}, 1, ""},
		{"nothing matched", []string{"conntrack v1.4.7: 0 flow entries have been deleted."}, []error{exit1}, 1, ""},
		{"race then done", []string{race, "conntrack v1.4.7: 3 flow entries have been deleted."}, []error{exit1, nil}, 2, ""},
		{"race then nothing left", []string{race, "0 flow entries have been deleted."}, []error{exit1, exit1}, 2, ""},
		{"endless race", []string{race, race, race, race}, []error{exit1, exit1, exit1, exit1}, 4, "kept expiring"},
		{"real failure", []string{"lots\nof\nconntrack v1.4.7: Operation not permitted"}, []error{exit1}, 1, "conntrack -D x: conntrack v1.4.7: Operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := deleteConntrack(func(...string) (string, error) {
				calls++
				return tc.outs[calls-1], tc.errs[calls-1]
			}, []string{"-D", "x"})
			if calls != tc.calls {
				t.Errorf("calls = %d, want %d", calls, tc.calls)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
