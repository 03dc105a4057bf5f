// Package inject is the mutating admission webhook that adds the mesh proxy
// (an init container that redirects traffic and a native sidecar) to pods that
// opted in. The decision and the mutation are pure functions; the webhook only
// decodes, looks up the namespace and encodes a JSON patch.
package inject
