// Package ownership decides which MeshInstallation owns the cluster's one mesh
// (Owner, pure) and guards every write and delete of a shared object so that
// an object labelled for another installation is never touched (Check).
package ownership
