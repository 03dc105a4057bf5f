package netinit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
)

func ruleStrings(rules []Rule) string {
	var s []string
	for _, r := range rules {
		s = append(s, r.String())
	}
	return strings.Join(s, "\n")
}

func TestPlan(t *testing.T) {
	base := Config{ProxyUID: 2102, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191}
	withSkips := base
	withSkips.SkipInboundPorts = []uint16{22, 4191, 22}
	withSkips.SkipOutboundPorts = []uint16{3306, 0}
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no skips", base, []string{
			"prerouting: tcp dport 4191 return",
			"prerouting: tcp dport 4143 return",
			"prerouting: tcp redirect :4143",
			"output: tcp skuid 2102 return",
			"output: tcp ip daddr 127.0.0.0/8 return",
			"output: tcp ip6 daddr ::1 return",
			"output: tcp redirect :4140",
		}},
		{"skips, duplicates and zero dropped", withSkips, []string{
			"prerouting: tcp dport 4191 return",
			"prerouting: tcp dport 4143 return",
			"prerouting: tcp dport 22 return",
			"prerouting: tcp redirect :4143",
			"output: tcp skuid 2102 return",
			"output: tcp ip daddr 127.0.0.0/8 return",
			"output: tcp ip6 daddr ::1 return",
			"output: tcp dport 3306 return",
			"output: tcp redirect :4140",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := ruleStrings(Plan(tt.cfg)), strings.Join(tt.want, "\n"); got != want {
				t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestExprs(t *testing.T) {
	uid := uint32(2102)
	tests := []struct {
		name string
		rule Rule
		// kinds is the expression sequence, by type name.
		kinds []string
		last  expr.Any
	}{
		{"redirect", Rule{Chain: Output, RedirectTo: 4140},
			[]string{"Meta", "Cmp", "Immediate", "Redir"}, &expr.Redir{RegisterProtoMin: 1}},
		{"uid return", Rule{Chain: Output, OwnerUID: &uid},
			[]string{"Meta", "Cmp", "Meta", "Cmp", "Verdict"}, &expr.Verdict{Kind: expr.VerdictReturn}},
		{"IPv4 loopback return", Rule{Chain: Output, DstLoopback: IPv4},
			[]string{"Meta", "Cmp", "Meta", "Cmp", "Payload", "Bitwise", "Cmp", "Verdict"}, &expr.Verdict{Kind: expr.VerdictReturn}},
		{"IPv6 loopback return", Rule{Chain: Output, DstLoopback: IPv6},
			[]string{"Meta", "Cmp", "Meta", "Cmp", "Payload", "Cmp", "Verdict"}, &expr.Verdict{Kind: expr.VerdictReturn}},
		{"port return", Rule{Chain: Prerouting, DstPort: 4191},
			[]string{"Meta", "Cmp", "Payload", "Cmp", "Verdict"}, &expr.Verdict{Kind: expr.VerdictReturn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Exprs(tt.rule)
			var kinds []string
			for _, e := range got {
				kinds = append(kinds, strings.TrimPrefix(reflect.TypeOf(e).String(), "*expr."))
			}
			if !reflect.DeepEqual(kinds, tt.kinds) || !reflect.DeepEqual(got[len(got)-1], tt.last) {
				t.Fatalf("exprs %v ending %+v", kinds, got[len(got)-1])
			}
		})
	}
	port := Exprs(Rule{DstPort: 4191})
	if cmp := port[3].(*expr.Cmp); !reflect.DeepEqual(cmp.Data, []byte{0x10, 0x5f}) {
		t.Fatalf("port 4191 not big-endian: %x", cmp.Data)
	}
	redirect := Exprs(Rule{RedirectTo: 4143})
	if imm := redirect[2].(*expr.Immediate); !reflect.DeepEqual(imm.Data, []byte{0x10, 0x2f}) {
		t.Fatalf("redirect port 4143 not big-endian: %x", imm.Data)
	}
}
