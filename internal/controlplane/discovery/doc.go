// Package discovery watches Pods, Services, EndpointSlices and Namespaces and
// streams the resulting table of meshed destinations (contract.DiscoverySnapshot)
// to every proxy as newline-delimited JSON.
package discovery
