package rotation

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	oldA, newA      = "aaaa-old", "bbbb-new"
	oldIss, newIss  = "iss-old", "iss-new"
	timeout         = 10 * time.Minute
	webA, webB, dbA = "ns/web-1", "ns/web-2", "ns/db-1"
	webDep, dbSts   = "Deployment/ns/web", "StatefulSet/ns/db"
)

func proxy(pod, workload, issuer string, anchors ...string) Proxy {
	return Proxy{Pod: pod, Workload: workload, Anchors: anchors, Issuer: issuer}
}

func TestNextWalksEveryPhase(t *testing.T) {
	base := Facts{Now: t0, ActiveAnchor: oldA, ConvergenceTimeout: timeout, PhaseSince: t0, RestartWave: 1}
	cases := []struct {
		name   string
		facts  func(f *Facts)
		phase  Phase
		action Action
		bundle []string
	}{
		{"nothing pending: generate once", func(f *Facts) {
			f.Bundle, f.IssuerSignedBy = []string{oldA}, oldA
		}, PhaseGenerate, ActionGenerateNext, nil},
		{"new anchor pending: publish both", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy = newA, []string{oldA}, oldA
		}, PhasePublish, ActionPublishBundle, []string{oldA, newA}},
		{"bundle published, a proxy still trusts only the old anchor: wait", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy = newA, []string{newA, oldA}, oldA
			f.Proxies = []Proxy{proxy(webA, webDep, oldIss, oldA, newA), proxy(dbA, dbSts, oldIss, oldA)}
		}, PhaseAwaitBundle, ActionWait, nil},
		{"every proxy trusts both: switch issuer", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy = newA, []string{oldA, newA}, oldA
			f.Proxies = []Proxy{proxy(webA, webDep, oldIss, oldA, newA)}
		}, PhaseSwitchIssuer, ActionSwitchIssuer, nil},
		{"issuer switched, certificates pending: wait", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy, f.Issuer = newA, []string{oldA, newA}, newA, newIss
			f.Proxies = []Proxy{proxy(webA, webDep, newIss, oldA, newA), proxy(webB, webDep, oldIss, oldA, newA)}
		}, PhaseAwaitCerts, ActionWait, nil},
		{"all certificates new: retire the old anchor", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy, f.Issuer = newA, []string{oldA, newA}, newA, newIss
			f.Proxies = []Proxy{proxy(webA, webDep, newIss, oldA, newA)}
		}, PhaseRetire, ActionPublishBundle, []string{newA}},
		{"old anchor retired, proxies still trust it: wait", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy, f.Issuer = newA, []string{newA}, newA, newIss
			f.Proxies = []Proxy{proxy(webA, webDep, newIss, oldA, newA)}
		}, PhaseAwaitRetire, ActionWait, nil},
		{"every proxy trusts only the new anchor: promote", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy, f.Issuer = newA, []string{newA}, newA, newIss
			f.Proxies = []Proxy{proxy(webA, webDep, newIss, newA)}
		}, PhasePromote, ActionPromote, nil},
		{"crash after the active anchor was replaced: finish", func(f *Facts) {
			f.ActiveAnchor, f.NextAnchor, f.Bundle, f.IssuerSignedBy = newA, newA, []string{newA}, newA
		}, PhasePromote, ActionPromote, nil},
		{"crash after the pending anchor was removed: finish, never a second anchor", func(f *Facts) {
			f.ActiveAnchor, f.Target, f.Bundle, f.IssuerSignedBy = newA, newA, []string{newA}, newA
		}, PhasePromote, ActionPromote, nil},
		{"no meshed proxies: phases pass at once", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy = newA, []string{oldA, newA}, oldA
		}, PhaseSwitchIssuer, ActionSwitchIssuer, nil},
		{"unreadable proxy counts as not converged", func(f *Facts) {
			f.NextAnchor, f.Bundle, f.IssuerSignedBy = newA, []string{oldA, newA}, oldA
			p := proxy(webA, webDep, oldIss, oldA, newA)
			p.Err = errors.New("connection refused")
			f.Proxies = []Proxy{p}
		}, PhaseAwaitBundle, ActionWait, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.facts(&f)
			s := Next(f)
			if s.Phase != tc.phase || s.Action != tc.action || !reflect.DeepEqual(s.Bundle, tc.bundle) {
				t.Fatalf("Next = %+v, want %s/%s bundle %v", s, tc.phase, tc.action, tc.bundle)
			}
			if s.Message == "" {
				t.Error("every step explains itself")
			}
		})
	}
}

func TestAwaitReportsProgressAndRestartsLaggardsAfterTheDeadline(t *testing.T) {
	f := Facts{ActiveAnchor: oldA, NextAnchor: newA, Bundle: []string{oldA, newA}, IssuerSignedBy: oldA,
		PhaseSince: t0, ConvergenceTimeout: timeout, RestartWave: 1,
		Proxies: []Proxy{
			proxy(webA, webDep, oldIss, oldA, newA),
			proxy(webB, webDep, oldIss, oldA),
			proxy(dbA, dbSts, oldIss, oldA),
			proxy("ns/bare", "", oldIss, oldA),
		}}
	f.Now = t0.Add(timeout - time.Second)
	s := Next(f)
	if s.Action != ActionWait || s.Converged != 1 || s.Total != 4 || !reflect.DeepEqual(s.Lagging, []string{"ns/bare", dbA, webB}) {
		t.Fatalf("before the deadline: %+v", s)
	}
	if s.RecheckAfter <= 0 {
		t.Fatal("waiting must say when to look again")
	}
	f.Now = t0.Add(timeout)
	s = Next(f)
	if s.Action != ActionRestartLaggards || !reflect.DeepEqual(s.Restart, []string{webDep}) {
		t.Fatalf("at the deadline, one wave of laggards' workloads: %+v", s)
	}
	f.AlreadyRestarted = []string{webDep}
	s = Next(f)
	if s.Action != ActionRestartLaggards || !reflect.DeepEqual(s.Restart, []string{dbSts}) {
		t.Fatalf("next wave skips workloads already restarted: %+v", s)
	}
	f.AlreadyRestarted = []string{webDep, dbSts}
	if s = Next(f); s.Action != ActionWait {
		t.Fatalf("nothing left to restart (a bare pod has no workload): keep waiting, got %+v", s)
	}
	f.PhaseSince = time.Time{}
	f.AlreadyRestarted = nil
	if s = Next(f); s.Action != ActionWait {
		t.Fatalf("without a recorded phase start the deadline is unknown: wait, got %+v", s)
	}
}

// An issuer deleted (or signed by neither anchor) mid-rotation is re-issued
// from the new anchor only once every proxy trusts it.
func TestNextWithoutAnIssuerOfEitherAnchorNeverSwitchesEarly(t *testing.T) {
	base := Facts{Now: t0, ActiveAnchor: oldA, NextAnchor: newA, ConvergenceTimeout: timeout, PhaseSince: t0, RestartWave: 1}
	cases := []struct {
		name   string
		facts  func(f *Facts)
		phase  Phase
		action Action
	}{
		{"bundle {old}: publish both first", func(f *Facts) {
			f.Bundle = []string{oldA}
			f.Proxies = []Proxy{proxy(webA, webDep, oldIss, oldA)}
		}, PhasePublish, ActionPublishBundle},
		{"bundle {old,new}, a proxy trusts only old: wait", func(f *Facts) {
			f.Bundle = []string{oldA, newA}
			f.Proxies = []Proxy{proxy(webA, webDep, oldIss, oldA)}
		}, PhaseAwaitBundle, ActionWait},
		{"every proxy trusts both: issue from the new anchor", func(f *Facts) {
			f.Bundle = []string{oldA, newA}
			f.Proxies = []Proxy{proxy(webA, webDep, oldIss, oldA, newA)}
		}, PhaseSwitchIssuer, ActionSwitchIssuer},
		{"old anchor already retired: issue from the new anchor", func(f *Facts) {
			f.Bundle = []string{newA}
			f.Proxies = []Proxy{proxy(webA, webDep, newIss, newA)}
		}, PhaseSwitchIssuer, ActionSwitchIssuer},
		{"issuer of a foreign anchor, bundle {old}: publish both first", func(f *Facts) {
			f.Bundle, f.IssuerSignedBy = []string{oldA}, "cccc-foreign"
		}, PhasePublish, ActionPublishBundle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.facts(&f)
			s := Next(f)
			if s.Phase != tc.phase || s.Action != tc.action {
				t.Fatalf("Next = %+v, want %s/%s", s, tc.phase, tc.action)
			}
		})
	}
}
