// Package rotation is the operator's state machine for trust: it keeps the
// anchor, issuer and published bundle in their steady state and carries a
// zero-downtime anchor rotation through. It runs in the operator
// (cmd/manager) and has the layout of the other two machines (release,
// upgrade):
//   - facts.go: what a rotation step depends on (Facts), and the reads of
//     the meshed proxies' trust view that feed it;
//   - next.go: the pure decision, Next(facts) → Step, table-tested;
//   - apply.go: the Runner, which loads the trust objects (internal/operator/trust),
//     gathers the facts, asks for the step and performs it — generate,
//     publish, switch the issuer, restart laggards, promote — and records
//     progress in status.trust.
//
// The phases follow the order every peer needs to keep verifying every
// other peer:
//
//	Publish         bundle := {old, new}
//	AwaitBundle     every proxy trusts both anchors
//	SwitchIssuer    the identity issuer is re-signed by the new anchor
//	AwaitCerts      every proxy's certificate comes from the new issuer
//	Retire          bundle := {new}
//	AwaitRetire     every proxy trusts only the new anchor
//	Promote         the new anchor becomes the active one; rotation recorded
//
// The phase is derived from the observed objects (bundle, issuer, pending
// anchor) on every pass, so a crash at any point resumes where it stopped and
// never generates a second new anchor or drops an anchor still in use.
package rotation
