// Package bundlegen builds meshkeeper's OLM bundle (registry+v1) and its
// file-based catalog from the kustomize output of config/manifests.
//
// Generate and Catalog are pure: they take decoded objects and options and return
// file contents, so their rules are tested without a disk or a cluster. Render
// wires them to a checkout (kustomize build, the icon, the Makefile's version, the
// mesh releases of internal/versions, the earlier bundles in the catalog), and is
// what both `make bundle` and the staleness test call.
package bundlegen
