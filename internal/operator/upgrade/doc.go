// Package upgrade is the operator's state machine for staged mesh upgrades:
// of the version, of the redirect mode (spec.dataPlane.redirect; redirect.go),
// or of both at once.
// It runs in the operator (cmd/manager) and shares the layout of the other
// two machines (release, rotation):
//   - facts.go: what an upgrade step depends on (Facts, ControlPlane, Reading);
//   - next.go: the pure decision, Next(facts) → Step, table-tested and
//     checked by a crash-injection simulation (next_sim_test.go);
//   - apply.go: Runner, the apply side. Step gathers the facts from the
//     cluster, reads a gate when Next asks for one, and returns the step;
//     Apply carries out its restarts and evictions and records it. The
//     lifecycle calls Step before the release machine (which version the
//     control plane runs now) and Apply after it, in the same pass.
//
// Beside the machine, all pure except the Prometheus source: the version skew
// policy (skew.go), the meshed workloads and the wave plan over them
// (workloads.go, plan.go), PodDisruptionBudget and batch math (pdb.go), and
// health gates over the proxies' golden metrics or Prometheus (gate.go,
// prometheus.go). Workload restarts and evictions are
// internal/operator/workload's Restart and Evict.
//
// # Driving the machine
//
// One reconcile pass:
//
//  1. Gather Facts: the spec, status.upgrade and status.upgradeHistory, the
//     observed control-plane release (ControlPlane), MeshedWorkloads over the
//     meshed pods and ReplicaSets, the labels of their namespaces, the
//     PodDisruptionBudgets of those namespaces. Leave Reading empty.
//  2. s := Next(facts). If s.NeedReading, read the gate source for the
//     workloads in s.ReadScope (Proxies: scrape their pods and SumReports into
//     Reading.Counters; Prometheus: PrometheusSource.Measure over
//     Namespaces(s.ReadScope) and s.ReadWindow into Reading.Window; a failure
//     into Reading.Err), then s = Next(facts) again. Gates are read only
//     when a step needs them.
//  3. Keep the control plane at s.ControlPlaneVersion (Helm install/upgrade
//     only when the digest differs), and for ActionRestartWorkloads call
//     workload.Restart(key, s.RestartAt) for each of s.Restart and
//     workload.Evict for each of s.Evict.
//  4. Then write s.Upgrade and s.History into status (one patch, only when
//     changed), emit an event for s.Verdict, set conditions from s.Reason and
//     s.Message, and requeue after s.RecheckAfter.
//
// Acting before writing status is what makes every crash point resume: the
// machine derives progress from the status and the observation only;
// restarts are stamped with a time kept in status, so a repeated restart is a
// no-op; transitions whose effects must be recorded first (Begin,
// BeginRollback, Advance) are status-only, and ControlPlaneVersion always
// follows the status as read, never the one being written.
package upgrade
