package kubectlplugin

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// Check names, so tests and users can refer to them.
const (
	CheckInstallation = "installation"
	CheckConditions   = "installation health"
	CheckOperator     = "operator"
	CheckControlPlane = "control plane"
	CheckInjector     = "injector"
	CheckBundles      = "trust bundle"
	CheckAnchor       = "trust anchor expiry"
	CheckIssuer       = "issuer expiry"
	CheckRotation     = "trust rotation"
	CheckUpgrade      = "upgrade"
	CheckProxies      = "proxies"
	CheckUnmeshed     = "unmeshed pods"
)

// Checks judges an installed mesh. Without an installation only the operator
// and the installation's absence are judged: nothing else can be.
func Checks(f Facts) []Result {
	if f.Installation == nil {
		return []Result{checkOperator(f), checkInstallation(f)}
	}
	return []Result{
		checkOperator(f), checkInstallation(f), checkConditions(f), checkControlPlane(f), checkInjector(f),
		checkBundles(f), checkAnchor(f), checkIssuer(f), checkRotation(f), checkUpgrade(f), checkProxies(f), checkUnmeshed(f),
	}
}

func checkInstallation(f Facts) Result {
	if f.Installation == nil {
		msg := "no MeshInstallation exists"
		if f.InstallationErr != nil {
			msg = f.InstallationErr.Error()
		}
		return fail(CheckInstallation, msg, "apply one: kubectl apply -f config/samples/mesh_v1alpha1_meshinstallation.yaml")
	}
	mi := f.Installation
	if mi.Status.InstalledVersion == "" {
		return fail(CheckInstallation, fmt.Sprintf("%s wants %s; nothing is installed yet", mi.Name, mi.Spec.Version),
			"kubectl meshkeeper status shows what the operator is doing")
	}
	return pass(CheckInstallation, fmt.Sprintf("%s runs mesh %s (spec %s)", mi.Name, mi.Status.InstalledVersion, mi.Spec.Version))
}

// checkConditions fails on what the operator itself reports as wrong.
func checkConditions(f Facts) Result {
	conds := f.Installation.Status.Conditions
	var bad []string
	for _, t := range []string{meshv1.ConditionStalled, meshv1.ConditionDegraded} {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			bad = append(bad, fmt.Sprintf("%s (%s: %s)", t, c.Reason, c.Message))
		}
	}
	ready := meta.FindStatusCondition(conds, meshv1.ConditionReady)
	switch {
	case ready == nil:
		bad = append(bad, "no Ready condition yet")
	case ready.Status != metav1.ConditionTrue:
		bad = append(bad, fmt.Sprintf("not Ready (%s: %s)", ready.Reason, ready.Message))
	}
	if len(bad) > 0 {
		return fail(CheckConditions, strings.Join(bad, "; "), "kubectl meshkeeper status; the operator's events: kubectl get events --field-selector involvedObject.kind=MeshInstallation -A")
	}
	return pass(CheckConditions, "Ready, neither stalled nor degraded")
}

func checkOperator(f Facts) Result {
	if len(f.Operator) == 0 {
		return fail(CheckOperator, "no operator Deployment (app.kubernetes.io/name=meshkeeper, component=operator) found",
			"install the operator: make deploy IMG=...")
	}
	if bad := unavailable(f.Operator); len(bad) > 0 {
		return fail(CheckOperator, "not available: "+listNames(bad, 3), "kubectl -n "+f.Operator[0].Namespace+" describe deployment; check its pod logs")
	}
	return pass(CheckOperator, fmt.Sprintf("%s/%s is available", f.Operator[0].Namespace, f.Operator[0].Name))
}

func unavailable(deps []appsv1.Deployment) []string {
	var out []string
	for _, d := range deps {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.AvailableReplicas < want || d.Status.ObservedGeneration < d.Generation {
			out = append(out, fmt.Sprintf("%s (%d/%d available)", d.Name, d.Status.AvailableReplicas, want))
		}
	}
	return out
}

func checkControlPlane(f Facts) Result {
	ns := f.Installation.Spec.ControlPlane.Namespace
	if len(f.ControlPlane) == 0 {
		return fail(CheckControlPlane, "no control-plane Deployment in "+ns, "kubectl meshkeeper status shows the release's state")
	}
	bad := unavailable(f.ControlPlane)
	for i := range f.ControlPlanePods {
		p := &f.ControlPlanePods[i]
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && !podReady(p) {
			bad = append(bad, "pod "+p.Name+" not ready")
		}
	}
	if len(bad) > 0 {
		return fail(CheckControlPlane, listNames(bad, 4), "kubectl -n "+ns+" get pods; kubectl -n "+ns+" logs <pod>")
	}
	return pass(CheckControlPlane, fmt.Sprintf("%d Deployment(s), %d pod(s) ready in %s", len(f.ControlPlane), len(f.ControlPlanePods), ns))
}

func podReady(p *corev1.Pod) bool {
	c := podCondition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func checkInjector(f Facts) Result {
	in := f.Injection
	hint := "kubectl -n " + f.Installation.Spec.ControlPlane.Namespace + " logs -l mesh.meshkeeper.io/component=injector"
	switch {
	case in.Err != nil:
		return fail(CheckInjector, "dry-run pod in "+in.Namespace+" refused: "+in.Err.Error(), hint)
	case !in.ProxyContainer:
		return fail(CheckInjector, "a pod created in "+in.Namespace+" now would run without the proxy (the webhook did not answer or fails open)", hint)
	case f.ProxyVersion != "" && in.ProxyVersion != f.ProxyVersion:
		return fail(CheckInjector, fmt.Sprintf("injects proxy %q, want %s", in.ProxyVersion, f.ProxyVersion), hint)
	}
	return pass(CheckInjector, "a dry-run pod in "+in.Namespace+" gets proxy "+in.ProxyVersion)
}

func checkBundles(f Facts) Result {
	want := sortedCopy(f.Installation.Status.Trust.BundleFingerprints)
	if len(want) == 0 {
		return fail(CheckBundles, "status.trust.bundleFingerprints is empty: the operator has not published a bundle", "kubectl meshkeeper trust status")
	}
	var bad []string
	for _, ns := range f.MeshedNamespaces {
		if err := f.BundleErrs[ns]; err != nil {
			bad = append(bad, ns+": "+err.Error())
			continue
		}
		if got := sortedCopy(f.Bundles[ns]); !slices.Equal(got, want) {
			bad = append(bad, ns+": holds "+shortList(got)+", want "+shortList(want))
		}
	}
	if len(bad) > 0 {
		return fail(CheckBundles, "stale or missing "+bundleName+" in "+listNames(bad, 3), "the operator republishes it every reconcile; check its logs")
	}
	return pass(CheckBundles, fmt.Sprintf("%d meshed namespace(s) hold the %d published anchor(s)", len(f.MeshedNamespaces), len(want)))
}

func checkAnchor(f Facts) Result {
	t := f.Installation.Status.Trust
	renew := lifetime(f.Installation.Spec.Trust.Anchor, 720*time.Hour)
	return expiry(CheckAnchor, "anchor", t.Anchor, renew, f.Now, t.Rotation != nil,
		"kubectl meshkeeper trust rotate starts a rotation now")
}

func checkIssuer(f Facts) Result {
	t := f.Installation.Status.Trust
	renew := lifetime(f.Installation.Spec.Trust.Issuer, 168*time.Hour)
	return expiry(CheckIssuer, "issuer", t.Issuer, renew, f.Now, false,
		"the operator renews the issuer itself; check its logs")
}

func lifetime(l *meshv1.CertificateLifetime, def time.Duration) time.Duration {
	if l == nil {
		return def
	}
	return l.RenewBefore.Duration
}

// expiry fails a certificate that expired, or that is inside its renewal
// window with nothing replacing it: the operator should have renewed it.
func expiry(name, what string, c *meshv1.CertificateStatus, renewBefore time.Duration, now time.Time, replacing bool, hint string) Result {
	if c == nil {
		return fail(name, "status has no "+what+" yet", "kubectl meshkeeper status")
	}
	left := c.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return fail(name, fmt.Sprintf("the %s %s expired %s ago", what, pki.ShortFingerprint(c.Fingerprint), roundDuration(-left)), hint)
	case left <= renewBefore && !replacing:
		return fail(name, fmt.Sprintf("the %s expires in %s, inside its renewal window (renewBefore %s), and is not being replaced", what, roundDuration(left), renewBefore), hint)
	}
	return pass(name, fmt.Sprintf("the %s is valid for %s (renewed %s before expiry)", what, roundDuration(left), renewBefore))
}

func checkRotation(f Facts) Result {
	r := f.Installation.Status.Trust.Rotation
	if r == nil {
		return pass(CheckRotation, "no rotation in progress")
	}
	msg := fmt.Sprintf("rotation (%s) in phase %s since %s: %d/%d proxies converged", r.Trigger, r.Phase,
		r.PhaseSince.UTC().Format(time.RFC3339), r.Converged, r.Total)
	if len(r.Lagging) > 0 {
		msg += "; lagging: " + listNames(r.Lagging, 5)
	}
	return fail(CheckRotation, msg, "wait for it to finish (kubectl meshkeeper trust status), or restart the lagging workloads")
}

// Upgrade phases (internal/operator/upgrade), repeated here so the plugin
// does not link the operator's state machine.
const (
	phaseAwaitingApproval = "AwaitingApproval"
	phasePaused           = "Paused"
	phaseSucceeded        = "Succeeded"
	phaseFailed           = "Failed"
)

func checkUpgrade(f Facts) Result {
	u := f.Installation.Status.Upgrade
	if u == nil || u.Phase == phaseSucceeded {
		return pass(CheckUpgrade, "no upgrade in progress")
	}
	msg := fmt.Sprintf("%s -> %s is %s", u.From, u.To, u.Phase)
	if v := u.LastVerdict; v != nil && !v.Passed {
		msg += fmt.Sprintf("; gate %s failed: %s (%s)", v.Gate, v.Reason, v.Message)
	}
	hint := "kubectl meshkeeper status"
	switch u.Phase {
	case phaseAwaitingApproval:
		hint = "kubectl meshkeeper upgrade plan, then kubectl meshkeeper upgrade approve"
	case phasePaused:
		hint = "fix the cause, then kubectl meshkeeper upgrade resume, or set spec.version back to " + u.From
	case phaseFailed:
		hint = "set spec.version back to " + u.From + ", or fix the cause and change the spec to retry"
	}
	return fail(CheckUpgrade, msg, hint)
}

// checkProxies reads every meshed proxy's build_info: its version must be the
// installed mesh's, it must trust exactly the published anchors and hold a
// certificate from the current issuer.
func checkProxies(f Facts) Result {
	if len(f.Proxies) == 0 {
		return pass(CheckProxies, "no meshed pods")
	}
	st := f.Installation.Status.Trust
	bundle := sortedCopy(st.BundleFingerprints)
	issuer := ""
	if st.Issuer != nil {
		issuer = st.Issuer.Fingerprint
	}
	var bad []string
	for _, p := range f.Proxies {
		if why := proxyProblem(p.Report, p.Err, f.ProxyVersion, bundle, issuer); why != "" {
			bad = append(bad, p.Pod.String()+" ("+why+")")
		}
	}
	if len(bad) > 0 {
		return fail(CheckProxies, fmt.Sprintf("%d of %d proxies: %s", len(bad), len(f.Proxies), listNames(bad, 5)),
			"restart their workloads (kubectl rollout restart) or wait for the operator to converge them")
	}
	return pass(CheckProxies, fmt.Sprintf("%d proxies run %s, trust the bundle and hold a certificate of the current issuer", len(f.Proxies), f.ProxyVersion))
}

func proxyProblem(r proxyReport, err error, version string, bundle []string, issuer string) string {
	var why []string
	switch {
	case err != nil:
		return "metrics unreadable: " + err.Error()
	case version != "" && r.Version != version:
		why = append(why, fmt.Sprintf("version %s, want %s", r.Version, version))
	}
	if !slices.Equal(sortedCopy(r.TrustAnchors), bundle) {
		why = append(why, "trusts "+shortList(r.TrustAnchors)+", want "+shortList(bundle))
	}
	if issuer != "" && r.Issuer != issuer {
		why = append(why, "issuer "+pki.ShortFingerprint(r.Issuer)+", want "+pki.ShortFingerprint(issuer))
	}
	return strings.Join(why, "; ")
}

func checkUnmeshed(f Facts) Result {
	if len(f.Unmeshed) == 0 {
		return pass(CheckUnmeshed, "every pod in a meshed namespace carries the proxy")
	}
	names := make([]string, len(f.Unmeshed))
	for i, p := range f.Unmeshed {
		names[i] = p.Namespace + "/" + p.Name
	}
	hint := "restart their workloads: kubectl rollout restart"
	if f.Installation.Spec.DataPlane.UnmeshedPods != meshv1.UnmeshedPodsReport {
		hint = "the operator restarts their workloads (spec.dataPlane.unmeshedPods=Restart); bare pods must be recreated"
	}
	return fail(CheckUnmeshed, fmt.Sprintf("%d pod(s) run without the proxy: %s", len(names), listNames(names, 5)), hint)
}

// Unmeshed is the shared rule (internal/operator/dataplane) applied to pods.
func Unmeshed(pods []corev1.Pod, nsLabels map[string]map[string]string, mi *meshv1.MeshInstallation) []corev1.Pod {
	ptrs := make([]*corev1.Pod, len(pods))
	for i := range pods {
		ptrs[i] = &pods[i]
	}
	found := dataplane.FindUnmeshed(ptrs, nsLabels, namespaceSelector(mi), mi.Spec.ControlPlane.Namespace)
	out := make([]corev1.Pod, len(found))
	for i, p := range found {
		out[i] = *p
	}
	return out
}

func sortedCopy(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return out
}

func shortList(fps []string) string {
	if len(fps) == 0 {
		return "nothing"
	}
	short := make([]string, len(fps))
	for i, fp := range fps {
		short[i] = pki.ShortFingerprint(fp)
	}
	return "[" + strings.Join(short, " ") + "]"
}

// roundDuration keeps durations readable: days beyond 48h, else minutes or seconds.
func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	default:
		return d.Round(time.Second).String()
	}
}
