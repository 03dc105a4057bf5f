// Package images builds single-binary OCI images without a container daemon and
// imports them into the local cluster's containerd.
//
// An image is one uncompressed-source layer (gzip on the wire) holding a static
// binary and an empty /tmp; its config sets the entrypoint and a numeric user.
// Timestamps are fixed, so the same binary always yields the same digest and a
// re-import is a no-op for containerd.
package images
