package netinit

import (
	"fmt"

	"github.com/google/nftables"
)

// TableName is the one table proxy-init owns; re-running replaces it whole.
// It is an inet table, so IPv4 and IPv6 are redirected by the same rules: a
// dual-stack pod's IPv6 traffic cannot bypass the proxy (NAT in inet tables
// needs Linux 5.2).
const TableName = "meshkeeper"

// TableFamily is the table's family.
const TableFamily = nftables.TableFamilyINet

// Apply installs the plan in one netlink transaction: the table is created
// if missing, deleted, then recreated with its chains and rules, so running
// twice (an init container restart) leaves exactly one copy. Needs NET_ADMIN.
func Apply(conn *nftables.Conn, rules []Rule) error {
	table := &nftables.Table{Family: TableFamily, Name: TableName}
	conn.AddTable(table) // makes the delete below valid when the table is new
	conn.DelTable(table)
	conn.AddTable(table)
	chains := map[Chain]*nftables.Chain{
		Prerouting: conn.AddChain(&nftables.Chain{Name: string(Prerouting), Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}),
		Output: conn.AddChain(&nftables.Chain{Name: string(Output), Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest}),
	}
	for _, r := range rules {
		chain, ok := chains[r.Chain]
		if !ok {
			return fmt.Errorf("rule %s: unknown chain", r)
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: Exprs(r)})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("install nftables rules: %w", err)
	}
	return nil
}

// Installed counts the rules per chain in proxy-init's table.
func Installed(conn *nftables.Conn) (map[Chain]int, error) {
	table := &nftables.Table{Family: TableFamily, Name: TableName}
	out := map[Chain]int{}
	for _, c := range []Chain{Prerouting, Output} {
		rules, err := conn.GetRules(table, &nftables.Chain{Name: string(c), Table: table})
		if err != nil {
			return nil, err
		}
		out[c] = len(rules)
	}
	return out, nil
}
