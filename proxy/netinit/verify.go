package netinit

import (
	"fmt"
	"reflect"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Verify reports an error unless proxy-init's table holds exactly the plan:
// each chain's rules, in order, with the expressions Exprs gives. It is the
// CNI plugin's CHECK (and reads only; still needs NET_ADMIN).
func Verify(conn *nftables.Conn, rules []Rule) error {
	table := &nftables.Table{Family: TableFamily, Name: TableName}
	for _, c := range []Chain{Prerouting, Output} {
		var want []Rule
		for _, r := range rules {
			if r.Chain == c {
				want = append(want, r)
			}
		}
		got, err := conn.GetRules(table, &nftables.Chain{Name: string(c), Table: table})
		if err != nil {
			return fmt.Errorf("read chain %s of table %s: %w", c, TableName, err)
		}
		if len(got) != len(want) {
			return fmt.Errorf("chain %s of table %s has %d rules, want %d", c, TableName, len(got), len(want))
		}
		for i, r := range want {
			if !reflect.DeepEqual(got[i].Exprs, asKernelReports(Exprs(r))) {
				return fmt.Errorf("chain %s rule %d is not %q", c, i, r)
			}
		}
	}
	return nil
}

// asKernelReports rewrites what the kernel completes when it stores a rule:
// a redirect to one port comes back with that port's register as the range's
// maximum too, and the "protocol specified" flag set.
func asKernelReports(exprs []expr.Any) []expr.Any {
	out := make([]expr.Any, len(exprs))
	for i, e := range exprs {
		if r, ok := e.(*expr.Redir); ok && r.RegisterProtoMin != 0 && r.RegisterProtoMax == 0 {
			e = &expr.Redir{RegisterProtoMin: r.RegisterProtoMin, RegisterProtoMax: r.RegisterProtoMin,
				Flags: r.Flags | unix.NF_NAT_RANGE_PROTO_SPECIFIED}
		}
		out[i] = e
	}
	return out
}
