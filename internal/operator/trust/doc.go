// Package trust keeps the mesh's trust material in the cluster: the trust
// anchor (generated, or provided by the user), the identity issuer it signs,
// the public bundle published to every namespace, and the injector webhook's
// serving certificate. Decisions are pure functions of what was read (plan.go);
// store.go does the reading and writing.
package trust
