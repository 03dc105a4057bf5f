package rotation

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Defaults of spec.trust.rotation.
const (
	DefaultConvergenceTimeout = 10 * time.Minute
	DefaultRestartWave        = 1
	maxLaggingReported        = 20
)

// Runner keeps trust in its steady state and carries rotations through.
type Runner struct {
	Trust    *trust.Manager
	Client   client.Client // cached reads of meshed pods and ReplicaSets; workload patches
	Proxies  proxymetrics.Reader
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
}

// Outcome is the trust state after a pass.
type Outcome struct {
	State *trust.State
	// RecheckAfter is when trust needs looking at again.
	RecheckAfter time.Duration
}

// Reconcile loads the trust objects, then either repairs the steady state or
// advances a rotation by one step. Progress lives in mi.Status.Trust. A
// steady pass that needs nothing done is answered from informers (trial).
func (r *Runner) Reconcile(ctx context.Context, mi *meshv1.MeshInstallation) (*Outcome, error) {
	if out, ok := r.trial(ctx, mi); ok {
		return out, nil
	}
	return r.reconcile(ctx, mi)
}

func (r *Runner) reconcile(ctx context.Context, mi *meshv1.MeshInstallation) (*Outcome, error) {
	st, err := r.Trust.Load(ctx, mi)
	if err != nil {
		return nil, err
	}
	if st.AnchorGenerated {
		r.event(mi, "Normal", "AnchorGenerated", "Generate", "Generated trust anchor %s valid until %s",
			pki.Fingerprint(st.Active.Cert), st.Active.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if st.Note != "" {
		r.event(mi, "Warning", "AnchorChanged", "Rotate", "%s", st.Note)
	}
	if st.ActiveExpired {
		return r.recover(ctx, mi, st)
	}
	ts := &mi.Status.Trust
	if st.Next == nil && ts.Rotation != nil && st.Source == meshv1.SourceUserProvided && ts.Rotation.NewAnchor != pki.Fingerprint(st.Active.Cert) {
		// The user put the anchor in effect back before the issuer moved:
		// nothing chains to the abandoned target, so the bundle may drop it.
		r.event(mi, "Normal", "RotationCancelled", "Rotate", "Trust rotation %s → %s cancelled: the user-provided anchor is %s again",
			pki.ShortFingerprint(ts.Rotation.OldAnchor), pki.ShortFingerprint(ts.Rotation.NewAnchor), pki.ShortFingerprint(pki.Fingerprint(st.Active.Cert)))
		ts.Rotation = nil
	}
	if st.Next == nil && ts.Rotation == nil {
		if trigger, token := r.due(mi, st); trigger != "" {
			r.start(mi, st, trigger, token)
		}
	}
	if st.Next == nil && ts.Rotation == nil {
		return r.steady(ctx, mi, st)
	}
	return r.rotate(ctx, mi, st)
}

// due is the ordered policy for starting a rotation of a generated anchor.
func (r *Runner) due(mi *meshv1.MeshInstallation, st *trust.State) (trigger, token string) {
	if st.Source != meshv1.SourceGenerated {
		return "", "" // the user rotates a provided anchor by replacing its Secret
	}
	if tok := mi.Annotations[meshv1.RotateAnchorAnnotation]; tok != "" && tok != mi.Status.Trust.HandledRotateRequest {
		return meshv1.TriggerRequested, tok
	}
	if !r.Clock.Now().Before(pki.RenewalTime(st.Active.Cert, mi.Spec.Trust.AnchorLifetime().RenewBefore.Duration)) {
		return meshv1.TriggerScheduled, ""
	}
	return "", ""
}

func (r *Runner) start(mi *meshv1.MeshInstallation, st *trust.State, trigger, token string) {
	now := metav1.NewTime(r.Clock.Now())
	ts := &mi.Status.Trust
	ts.Rotation = &meshv1.RotationStatus{Phase: string(PhaseGenerate), Trigger: trigger,
		OldAnchor: pki.Fingerprint(st.Active.Cert), StartedAt: now, PhaseSince: now}
	if token != "" {
		ts.HandledRotateRequest = token
	}
	r.event(mi, "Normal", "RotationStarted", "Rotate", "Trust anchor rotation started (%s); old anchor %s", trigger, pki.ShortFingerprint(ts.Rotation.OldAnchor))
}

// steady keeps the bundle at the active anchor and the issuer signed by it and
// inside its validity.
func (r *Runner) steady(ctx context.Context, mi *meshv1.MeshInstallation, st *trust.State) (*Outcome, error) {
	active := pki.Fingerprint(st.Active.Cert)
	if err := r.Trust.PublishBundle(ctx, mi, []*x509.Certificate{st.Active.Cert}); err != nil {
		return nil, err
	}
	st.Bundle = []*x509.Certificate{st.Active.Cert}
	if err := r.keepIssuer(ctx, mi, st, st.Active, st.IssuerSigner != active); err != nil {
		return nil, err
	}
	next := trust.NextCheck(r.Clock.Now(),
		pki.RenewalTime(st.Issuer.Cert, mi.Spec.Trust.IssuerLifetime().RenewBefore.Duration),
		pki.RenewalTime(st.Active.Cert, mi.Spec.Trust.AnchorLifetime().RenewBefore.Duration),
		st.WebhookRenewal)
	if st.Source == meshv1.SourceGenerated {
		t := metav1.NewTime(pki.RenewalTime(st.Active.Cert, mi.Spec.Trust.AnchorLifetime().RenewBefore.Duration))
		mi.Status.Trust.NextRotation = &t
	} else {
		mi.Status.Trust.NextRotation = nil
	}
	return &Outcome{State: st, RecheckAfter: next.Sub(r.Clock.Now())}, nil
}

// keepIssuer issues a new issuer from signer when forced, missing or due.
func (r *Runner) keepIssuer(ctx context.Context, mi *meshv1.MeshInstallation, st *trust.State, signer *pki.KeyPair, force bool) error {
	d := trust.DecideIssuer(st.Issuer, signer, mi.Spec.Trust.IssuerLifetime().RenewBefore.Duration, r.Clock.Now())
	if !force && !d.Issue {
		return nil
	}
	issuer, err := r.Trust.IssueIssuer(ctx, mi, signer)
	if err != nil {
		return err
	}
	st.Issuer, st.IssuerSigner = issuer, pki.Fingerprint(signer.Cert)
	r.event(mi, "Normal", "IssuerIssued", "Issue", "Issued identity issuer %s (signed by anchor %s) valid until %s: %s",
		pki.ShortFingerprint(pki.Fingerprint(issuer.Cert)), pki.ShortFingerprint(st.IssuerSigner), issuer.Cert.NotAfter.UTC().Format(time.RFC3339), d.Reason)
	return nil
}

// rotate advances a rotation by one step.
func (r *Runner) rotate(ctx context.Context, mi *meshv1.MeshInstallation, st *trust.State) (*Outcome, error) {
	now := r.Clock.Now()
	ts := &mi.Status.Trust
	if ts.Rotation == nil { // a changed source, a lost anchor Secret, or a pending anchor whose status was lost
		r.start(mi, st, st.Trigger, "")
	}
	rot := ts.Rotation
	if st.Next != nil {
		if fp := pki.Fingerprint(st.Next.Cert); rot.NewAnchor != "" && rot.NewAnchor != fp {
			r.event(mi, "Warning", "RotationRetargeted", "Rotate", "Trust rotation from %s now moves to %s instead of %s: the anchor source changed before the issuer moved; %s leaves the bundle",
				pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(fp), pki.ShortFingerprint(rot.NewAnchor), pki.ShortFingerprint(rot.NewAnchor))
		}
		rot.NewAnchor = pki.Fingerprint(st.Next.Cert)
	}
	proxies, err := r.proxies(ctx)
	if err != nil {
		return nil, err
	}
	facts := Facts{
		Now: now, ActiveAnchor: pki.Fingerprint(st.Active.Cert), Target: rot.NewAnchor,
		Bundle: fingerprints(st.Bundle), IssuerSignedBy: st.IssuerSigner, Proxies: proxies,
		PhaseSince: rot.PhaseSince.Time, AlreadyRestarted: rot.Restarted, LastRestart: timeOf(rot.LastRestartAt),
		ConvergenceTimeout: convergenceTimeout(mi), RestartWave: restartWave(mi),
	}
	if st.Next != nil {
		facts.NextAnchor = rot.NewAnchor
	}
	if st.Issuer != nil {
		facts.Issuer = pki.Fingerprint(st.Issuer.Cert)
	}
	step := Next(facts)
	if string(step.Phase) != rot.Phase {
		rot.Phase, rot.PhaseSince, rot.Restarted, rot.LastRestartAt = string(step.Phase), metav1.NewTime(now), nil, nil
		r.event(mi, "Normal", "RotationPhase", string(step.Phase), "Trust rotation %s → %s: %s", pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(rot.NewAnchor), step.Message)
	}
	rot.Converged, rot.Total, rot.Message = int32(step.Converged), int32(step.Total), step.Message
	rot.Lagging = step.Lagging[:min(len(step.Lagging), maxLaggingReported)]
	r.reportStuck(mi, rot, step)
	recheck := time.Second
	switch step.Action {
	case ActionGenerateNext:
		next, err := r.Trust.GenerateNext(ctx, mi)
		if err != nil {
			return nil, err
		}
		st.Next, rot.NewAnchor = next, pki.Fingerprint(next.Cert)
	case ActionPublishBundle:
		certs := pick(step.Bundle, st.Active, st.Next)
		if err := r.Trust.PublishBundle(ctx, mi, certs); err != nil {
			return nil, err
		}
		st.Bundle = certs
	case ActionSwitchIssuer:
		if err := r.keepIssuer(ctx, mi, st, st.Next, true); err != nil {
			return nil, err
		}
	case ActionRestartLaggards:
		for _, key := range step.Restart {
			if err := workload.Restart(ctx, r.Client, key, now); err != nil {
				return nil, fmt.Errorf("restart %s: %w", key, err)
			}
			rot.Restarted = append(rot.Restarted, key)
		}
		t := metav1.NewTime(now)
		rot.LastRestartAt = &t
		r.event(mi, "Warning", "ProxiesLagging", "Restart", "%s; restarted %v", step.Message, step.Restart)
		recheck = step.RecheckAfter
	case ActionPromote:
		if st.Next != nil {
			st.Active = st.Next
		}
		// A user anchor already in effect still gets the generated anchors
		// left from before removed.
		if st.Next != nil || st.Source == meshv1.SourceUserProvided {
			if err := r.Trust.Promote(ctx, mi, st.Active); err != nil {
				return nil, err
			}
		}
		ts.LastRotation = &meshv1.RotationRecord{Trigger: rot.Trigger, OldAnchor: rot.OldAnchor, NewAnchor: rot.NewAnchor,
			StartedAt: rot.StartedAt, CompletedAt: metav1.NewTime(now)}
		r.event(mi, "Normal", "RotationCompleted", "Rotate", "Trust anchor rotated from %s to %s in %s",
			pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(rot.NewAnchor), now.Sub(rot.StartedAt.Time).Round(time.Second))
		ts.Rotation, st.Next = nil, nil
		if st.Active.Key == nil {
			// Only the new anchor's certificate is left: the next pass starts
			// another rotation, to an anchor with a key (see Trust.Promote).
			return &Outcome{State: st, RecheckAfter: time.Second}, nil
		}
		return r.steady(ctx, mi, st)
	case ActionWait:
		recheck = step.RecheckAfter
	}
	// Namespaces created mid-rotation get the bundle of the current phase.
	if err := r.Trust.PublishBundle(ctx, mi, st.Bundle); err != nil {
		return nil, err
	}
	if err := r.keepRotatingIssuer(ctx, mi, st, step); err != nil {
		return nil, err
	}
	return &Outcome{State: st, RecheckAfter: recheck}, nil
}

// keepRotatingIssuer renews the issuer from the anchor that signs it. An
// issuer deleted before the switch is re-issued from the old anchor when its
// key is here; otherwise the identity service issues nothing new until every
// proxy trusts the new anchor and the switch issues from it (certificates
// already issued keep working).
func (r *Runner) keepRotatingIssuer(ctx context.Context, mi *meshv1.MeshInstallation, st *trust.State, step Step) error {
	if st.Issuer == nil {
		switch step.Phase {
		case PhaseGenerate, PhasePublish, PhaseAwaitBundle:
			if st.Active.Key != nil {
				return r.keepIssuer(ctx, mi, st, st.Active, true)
			}
		}
		return nil
	}
	if signer := signerOf(st); signer != nil {
		return r.keepIssuer(ctx, mi, st, signer, false)
	}
	return nil
}

// recover replaces an expired anchor when the user asks for it; until then the
// installation stalls, since nothing can make the old anchor valid again.
func (r *Runner) recover(ctx context.Context, mi *meshv1.MeshInstallation, st *trust.State) (*Outcome, error) {
	ts := &mi.Status.Trust
	token := mi.Annotations[meshv1.RecoverTrustAnnotation]
	old := pki.Fingerprint(st.Active.Cert)
	if st.Source != meshv1.SourceGenerated || token == "" || token == ts.HandledRecoverRequest {
		return nil, reconcileerr.Stalledf(meshv1.ReasonAnchorExpired,
			"trust anchor %s expired at %s; meshed traffic can no longer be verified. Recover with `kubectl annotate mi %s %s=$(date +%%s) --overwrite` (generated anchors) or by providing a new anchor Secret; meshed pods are restarted and mTLS between them fails until both ends are restarted",
			pki.ShortFingerprint(old), st.Active.Cert.NotAfter.UTC().Format(time.RFC3339), mi.Name, meshv1.RecoverTrustAnnotation)
	}
	now := r.Clock.Now()
	kp, err := r.Trust.ReplaceExpiredAnchor(ctx, mi)
	if err != nil {
		return nil, err
	}
	if err := r.Trust.PublishBundle(ctx, mi, []*x509.Certificate{kp.Cert}); err != nil {
		return nil, err
	}
	st.Active, st.Next, st.Bundle, st.ActiveExpired = kp, nil, []*x509.Certificate{kp.Cert}, false
	if err := r.keepIssuer(ctx, mi, st, kp, true); err != nil {
		return nil, err
	}
	restarted, err := r.restartAllMeshed(ctx, now)
	if err != nil {
		return nil, err
	}
	ts.HandledRecoverRequest, ts.Rotation = token, nil
	ts.LastRotation = &meshv1.RotationRecord{Trigger: meshv1.TriggerRecovery, OldAnchor: old, NewAnchor: pki.Fingerprint(kp.Cert),
		StartedAt: metav1.NewTime(now), CompletedAt: metav1.NewTime(now)}
	r.event(mi, "Warning", "TrustRecovered", "Recover", "Replaced expired anchor %s with %s and restarted %d meshed workloads",
		pki.ShortFingerprint(old), pki.ShortFingerprint(pki.Fingerprint(kp.Cert)), len(restarted))
	return r.steady(ctx, mi, st)
}

func (r *Runner) restartAllMeshed(ctx context.Context, now time.Time) ([]string, error) {
	pods, err := r.meshedPods(ctx)
	if err != nil {
		return nil, err
	}
	owners := workload.ReplicaSetOwners(ctx, r.Client)
	seen := map[string]bool{}
	var keys []string
	for i := range pods {
		if k := workload.OwnerKey(&pods[i], owners); k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := workload.Restart(ctx, r.Client, k, now); err != nil {
			return keys, err
		}
	}
	return keys, nil
}

// reportStuck records the stuck and excluded pods in status, with a Warning
// event whenever either list changes (not on every pass).
func (r *Runner) reportStuck(mi *meshv1.MeshInstallation, rot *meshv1.RotationStatus, step Step) {
	stuck, excluded := bounded(step.Stuck), bounded(step.Excluded)
	stuckChanged := !slices.Equal(stuck, rot.Stuck) || int32(len(step.Stuck)) != rot.StuckCount
	excludedChanged := !slices.Equal(excluded, rot.Excluded) || int32(len(step.Excluded)) != rot.ExcludedCount
	rot.Stuck, rot.StuckCount = stuck, int32(len(step.Stuck))
	rot.Excluded, rot.ExcludedCount = excluded, int32(len(step.Excluded))
	if stuckChanged && len(step.Stuck) > 0 {
		r.event(mi, "Warning", meshv1.ReasonRotationStuck, "Rotate",
			"Trust rotation %s → %s stuck in %s: %d proxies did not converge within %s and nothing more can be done for them: %v; annotate them %s=true or delete them",
			pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(rot.NewAnchor), step.Phase, len(step.Stuck), convergenceTimeout(mi), stuck, contract.RotationExcludeAnnotation)
	}
	if excludedChanged && len(step.Excluded) > 0 {
		r.event(mi, "Warning", "ProxiesExcluded", "Rotate",
			"Trust rotation %s → %s does not wait for %d excluded pods (%s=true): %v; they lose mesh trust once the old anchor is retired, until they are replaced",
			pki.ShortFingerprint(rot.OldAnchor), pki.ShortFingerprint(rot.NewAnchor), len(step.Excluded), contract.RotationExcludeAnnotation, excluded)
	}
}

// bounded keeps the first maxLaggingReported names (nil when empty, so an
// unchanged status compares equal).
func bounded(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	return slices.Clone(list[:min(len(list), maxLaggingReported)])
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

func (r *Runner) event(mi *meshv1.MeshInstallation, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(mi, nil, eventType, reason, action, note, args...)
	}
}

// signerOf is the anchor whose key signs the current issuer.
func signerOf(st *trust.State) *pki.KeyPair {
	for _, a := range []*pki.KeyPair{st.Active, st.Next} {
		if a != nil && a.Key != nil && pki.Fingerprint(a.Cert) == st.IssuerSigner {
			return a
		}
	}
	return nil
}

func pick(fps []string, anchors ...*pki.KeyPair) []*x509.Certificate {
	var out []*x509.Certificate
	for _, fp := range fps {
		for _, a := range anchors {
			if a != nil && pki.Fingerprint(a.Cert) == fp {
				out = append(out, a.Cert)
				break
			}
		}
	}
	return out
}

func fingerprints(certs []*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, pki.Fingerprint(c))
	}
	return out
}

func convergenceTimeout(mi *meshv1.MeshInstallation) time.Duration {
	if r := mi.Spec.Trust.Rotation; r != nil && r.ConvergenceTimeout != nil {
		return r.ConvergenceTimeout.Duration
	}
	return DefaultConvergenceTimeout
}

func restartWave(mi *meshv1.MeshInstallation) int {
	if r := mi.Spec.Trust.Rotation; r != nil && r.RestartWave != nil {
		return int(*r.RestartWave)
	}
	return DefaultRestartWave
}
