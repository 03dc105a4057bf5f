package hostfx

import (
	"encoding/json"
	"errors"
	"fmt"
)

// iptables-nft creates the base tables (ip filter, ip6 nat, ...) on first use
// and never removes them; Restore deletes the ones that are new and empty.

type nftObject struct {
	Table *struct {
		Family string `json:"family"`
		Name   string `json:"name"`
	} `json:"table,omitempty"`
	Rule *json.RawMessage `json:"rule,omitempty"`
}

func nftList(args ...string) ([]nftObject, error) {
	out, err := run(iptTimeout, "nft", append([]string{"-j", "list"}, args...)...)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []nftObject `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse nft output: %w", err)
	}
	return doc.Nftables, nil
}

// nftTables lists "family name" of every nftables table (nil without nft).
func nftTables() []string {
	objs, err := nftList("tables")
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range objs {
		if o.Table != nil {
			out = append(out, o.Table.Family+" "+o.Table.Name)
		}
	}
	return out
}

// removeNewEmptyNftTables deletes tables created since the snapshot that hold
// no rule; a new table that still has rules is reported, not touched.
func removeNewEmptyNftTables(existing map[string]bool) error {
	var errs []error
	for _, t := range nftTables() {
		if existing[t] {
			continue
		}
		var fam, name string
		fmt.Sscan(t, &fam, &name)
		objs, err := nftList("table", fam, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules := 0
		for _, o := range objs {
			if o.Rule != nil {
				rules++
			}
		}
		if rules > 0 {
			errs = append(errs, fmt.Errorf("nft table %s is new but holds %d rules: left in place", t, rules))
			continue
		}
		if _, err := run(iptTimeout, "nft", "delete", "table", fam, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
