// Package buildinfo carries the version stamped into every binary at link time:
//
//	go build -ldflags "-X github.com/meshkeeper/meshkeeper/internal/buildinfo.Version=0.1.0"
//
// The proxy reports it in its build-info metric, so two mesh releases built from
// the same source still report distinct proxy versions.
package buildinfo

// Version is overwritten by -ldflags at build time.
var Version = "dev"
