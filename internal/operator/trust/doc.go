// Package trust keeps the mesh's trust material in the cluster: the trust
// anchor (generated, or provided by the user), the identity issuer it signs,
// the public bundle published to every namespace, and the injector webhook's
// serving certificate. Decisions are pure functions of what was read (plan.go);
// load.go reads the material (creating a first anchor and the webhook
// certificate when missing), ops.go performs the operations the rotation
// machine asks for (publish, issue, generate, promote, recover, clean up), and
// objects.go reads and writes the Secrets and ConfigMaps underneath. The
// rotation machine (internal/operator/rotation) decides when to call them.
//
// anchors.go holds the rule that keeps trust from being cut over
// (ChooseAnchors): the anchor live certificates chain to stays in effect,
// from the bundle if its Secret is gone, and a differing source anchor (a
// switched anchorSecretRef, a replaced user Secret, a regenerated anchor)
// becomes a rotation's next. A rotation whose issuer already signs from its
// target is finished before a later change is acted on; a target nothing
// chains to yet is replaced. A bundle of several anchors none of which is
// known to be in effect stops as Stalled instead of guessing.
//
// webhookplan.go decides the renewal of the injector's serving certificate
// (DecideWebhook) and webhook.go carries it out: stage a new CA next to the
// old one, swap the served pair once the live webhook configuration trusts
// the new CA, retire the old CA once every injector pod presents the new
// pair, so the caBundle always trusts what the injector may present.
package trust
