// Package trust keeps the mesh's trust material in the cluster: the trust
// anchor (generated, or provided by the user), the identity issuer it signs,
// the public bundle published to every namespace, and the injector webhook's
// serving certificate. Decisions are pure functions of what was read (plan.go);
// load.go reads the material (creating a first anchor and the webhook
// certificate when missing), ops.go performs the operations the rotation
// machine asks for (publish, issue, generate, promote, recover, clean up), and
// objects.go reads and writes the Secrets and ConfigMaps underneath. The
// rotation machine (internal/operator/rotation) decides when to call them.
package trust
