// Package kube pins the Kubernetes release whose commands the test harness builds
// from Go modules (see test/assets). It holds no code of its own.
package kube
