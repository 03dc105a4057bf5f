// Package cninode judges the CNI plugin's node agent (the meshkeeper-cni
// DaemonSet, spec.dataPlane.redirect CNI) from what the operator's cache
// holds: per-node readiness for status and conditions (Observe), and whether
// a new template has rolled out to every node (RolledOut) for the upgrade's
// control-plane gate. Both are pure; the lifecycle and the upgrade runner
// read the DaemonSet and pods and act on the verdicts.
package cninode
