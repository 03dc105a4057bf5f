package kubectlplugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// WriteJSON prints v indented, for scripts (-o json).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// CheckReport is the JSON shape of `check`.
type CheckReport struct {
	Results []Result `json:"results"`
	Failed  []string `json:"failed"`
}

// RenderChecks prints one ✔/✖ line per check, a hint under each failure, and
// a last line naming what failed.
func RenderChecks(w io.Writer, results []Result) {
	for _, r := range results {
		mark := "✔"
		if !r.OK {
			mark = "✖"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, r.Name, r.Message)
		if !r.OK && r.Hint != "" {
			fmt.Fprintf(w, "    hint: %s\n", r.Hint)
		}
	}
	if failed := Failed(results); len(failed) > 0 {
		fmt.Fprintf(w, "\n%d of %d checks failed: %s\n", len(failed), len(results), strings.Join(failed, ", "))
		return
	}
	fmt.Fprintf(w, "\nall %d checks passed\n", len(results))
}

// StatusView is the JSON shape of `status`: the installation's status with its name and spec version.
type StatusView struct {
	Name    string                        `json:"name"`
	Version string                        `json:"version"`
	Status  meshv1.MeshInstallationStatus `json:"status"`
}

// RenderStatus prints the installation at a glance.
func RenderStatus(w io.Writer, mi *meshv1.MeshInstallation, now time.Time) {
	st := mi.Status
	fmt.Fprintf(w, "MeshInstallation %s: spec.version %s, installed %s\n", mi.Name, mi.Spec.Version, orNone(st.InstalledVersion))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCONDITION\tSTATUS\tREASON\tSINCE\tMESSAGE")
	for _, c := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, ago(c.LastTransitionTime, now), truncate(c.Message, 80))
	}
	tw.Flush()

	cp := st.ControlPlane
	fmt.Fprintf(w, "\nControl plane (%s): release %s rev %d %s, %d/%d replicas ready",
		mi.Spec.ControlPlane.Namespace, orNone(cp.ReleaseName), cp.ReleaseRevision, orNone(cp.ReleaseStatus), cp.ReadyReplicas, cp.DesiredReplicas)
	if cp.Probe != nil {
		fmt.Fprintf(w, ", probes passed %s ago", ago(cp.Probe.PassedAt, now))
	}
	fmt.Fprintln(w)
	if cp.FailedDigest != "" {
		fmt.Fprintf(w, "  last install/upgrade failed %d time(s); not retried until the spec changes\n", cp.Failures)
	}

	dp := st.DataPlane
	fmt.Fprintf(w, "Data plane: %d meshed pod(s), %d outdated, %d not ready, %d unmeshed", dp.MeshedPods, dp.OutdatedProxies, dp.NotReadyProxies, dp.UnmeshedPods)
	if len(dp.ProxyVersions) > 0 {
		var vs []string
		for _, v := range dp.ProxyVersions {
			vs = append(vs, fmt.Sprintf("%s×%d", v.Version, v.Pods))
		}
		fmt.Fprintf(w, "; proxies %s", strings.Join(vs, " "))
	}
	fmt.Fprintln(w)
	if len(dp.UnmeshedPodNames) > 0 {
		fmt.Fprintf(w, "  unmeshed: %s\n", strings.Join(dp.UnmeshedPodNames, ", "))
	}
	RenderTrust(w, mi, now)
	if st.Upgrade != nil {
		fmt.Fprint(w, UpgradePlan(mi))
	} else if st.InstalledVersion != "" && st.InstalledVersion != mi.Spec.Version {
		fmt.Fprintf(w, "Upgrade: %s -> %s not started yet\n", st.InstalledVersion, mi.Spec.Version)
	}
	if len(st.UpgradeHistory) > 0 {
		fmt.Fprintln(w, "Upgrade history:")
		for _, h := range st.UpgradeHistory {
			reason := ""
			if h.Reason != "" {
				reason = " (" + h.Reason + ")"
			}
			fmt.Fprintf(w, "  %s -> %s %s%s, finished %s ago\n", h.From, h.To, h.Result, reason, ago(h.FinishedAt, now))
		}
	}
}

// RenderTrust prints the anchor, the issuer and any rotation with its lagging proxies.
func RenderTrust(w io.Writer, mi *meshv1.MeshInstallation, now time.Time) {
	t := mi.Status.Trust
	fmt.Fprintf(w, "Trust (domain %s): bundle of %d anchor(s)\n", mi.Spec.Trust.TrustDomain, len(t.BundleFingerprints))
	cert := func(what string, c *meshv1.CertificateStatus, renew time.Duration) {
		if c == nil {
			fmt.Fprintf(w, "  %-7s none yet\n", what)
			return
		}
		src := ""
		if c.Source != "" {
			src = ", " + c.Source
		}
		fmt.Fprintf(w, "  %-7s %s expires %s (in %s; renewed %s before)%s\n", what, pki.ShortFingerprint(c.Fingerprint),
			c.NotAfter.UTC().Format(time.RFC3339), roundDuration(c.NotAfter.Sub(now)), renew, src)
	}
	cert("anchor", t.Anchor, lifetime(mi.Spec.Trust.Anchor, 720*time.Hour))
	cert("issuer", t.Issuer, lifetime(mi.Spec.Trust.Issuer, 168*time.Hour))
	if t.NextRotation != nil {
		fmt.Fprintf(w, "  next rotation %s (in %s)\n", t.NextRotation.UTC().Format(time.RFC3339), roundDuration(t.NextRotation.Sub(now)))
	}
	if r := t.Rotation; r != nil {
		fmt.Fprintf(w, "  rotation (%s) %s -> %s: phase %s for %s, %d/%d proxies converged\n", r.Trigger,
			pki.ShortFingerprint(r.OldAnchor), orNone(pki.ShortFingerprint(r.NewAnchor)), r.Phase, ago(r.PhaseSince, now), r.Converged, r.Total)
		if len(r.Lagging) > 0 {
			fmt.Fprintf(w, "    lagging: %s\n", strings.Join(r.Lagging, ", "))
		}
		if len(r.Restarted) > 0 {
			fmt.Fprintf(w, "    restarted: %s\n", strings.Join(r.Restarted, ", "))
		}
		if r.Message != "" {
			fmt.Fprintf(w, "    %s\n", r.Message)
		}
	} else if l := t.LastRotation; l != nil {
		fmt.Fprintf(w, "  last rotation (%s) %s -> %s finished %s ago\n", l.Trigger, pki.ShortFingerprint(l.OldAnchor),
			pki.ShortFingerprint(l.NewAnchor), ago(l.CompletedAt, now))
	}
}

// RenderStat prints the golden metrics like `linkerd viz stat`.
func RenderStat(w io.Writer, t StatTable) {
	fmt.Fprintf(w, "Inbound, over %s:\n", t.Window)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tPODS\tSUCCESS\tRPS\tP50\tP95\tP99")
	for _, r := range t.Inbound {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n", r.Namespace, r.Name, pods(r), rate(r.SuccessRate), r.RPS, ms(r.P50), ms(r.P95), ms(r.P99))
	}
	tw.Flush()
	if len(t.Outbound) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOutbound by destination, over %s:\n", t.Window)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tFROM\tTO\tSUCCESS\tRPS\tP50\tP95\tP99")
	for _, r := range t.Outbound {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n", r.Namespace, r.Name, dest(r.To), rate(r.SuccessRate), r.RPS, ms(r.P50), ms(r.P95), ms(r.P99))
	}
	tw.Flush()
}

func pods(r StatRow) string {
	if r.Unreadable > 0 {
		return fmt.Sprintf("%d (%d unreadable)", r.Pods, r.Unreadable)
	}
	return fmt.Sprint(r.Pods)
}

func dest(d *Destination) string {
	switch {
	case d == nil:
		return "-"
	case d.Service == "" && d.Namespace == "":
		return "unknown"
	case d.Service == "":
		return d.Namespace + "/(pod)"
	case d.Service == d.Namespace: // DstExternal in both
		return d.Service
	}
	return d.Namespace + "/" + d.Service
}

func rate(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *v*100)
}

func ms(v *float64) string {
	if v == nil {
		return "-"
	}
	if *v < 10 { // sub-millisecond proxies: keep a decimal
		return fmt.Sprintf("%.1fms", *v)
	}
	return fmt.Sprintf("%.0fms", *v)
}

func ago(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return roundDuration(now.Sub(t.Time))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
