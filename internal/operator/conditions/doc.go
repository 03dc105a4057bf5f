// Package conditions computes a MeshInstallation's conditions from what a
// reconcile observed. Every function is free of side effects; Ready is only
// ever derived from the others. It runs in the operator (cmd/manager).
package conditions
