package rotation

import (
	"errors"
	"reflect"
	"strings"
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

func TestAwaitReportsStuckLaggardsOnceNothingMoreCanBeDone(t *testing.T) {
	base := Facts{ActiveAnchor: oldA, NextAnchor: newA, Bundle: []string{oldA, newA}, IssuerSignedBy: oldA,
		PhaseSince: t0, ConvergenceTimeout: timeout, RestartWave: 1,
		Proxies: []Proxy{
			proxy(webA, webDep, oldIss, oldA, newA),
			proxy("ns/bare", "", oldIss, oldA),
			proxy("ns/job-x", "", oldIss, oldA),
			{Pod: "ns/blocked", Workload: webDep, Err: errors.New("dial tcp: i/o timeout")},
			proxy(dbA, dbSts, oldIss, oldA), // an OnDelete StatefulSet: restarting it replaces nothing
		}}
	for _, tc := range []struct {
		name        string
		now         time.Duration // after the phase start
		restarted   []string
		lastRestart time.Duration // after the phase start; 0 = unknown
		wantAction  Action
		wantStuck   []string
	}{
		{"before the deadline nothing is stuck", timeout - time.Second, nil, 0, ActionWait, nil},
		{"at the deadline pods without a workload are stuck, others are restarted", timeout, nil, 0, ActionRestartLaggards, []string{"ns/bare", "ns/job-x"}},
		{"just restarted: their pods get a timeout to converge", timeout + time.Minute, []string{dbSts, webDep}, timeout + time.Minute, ActionWait, []string{"ns/bare", "ns/job-x"}},
		{"a timeout after the last restart they are stuck too", 2*timeout + time.Minute, []string{dbSts, webDep}, timeout + time.Minute, ActionWait, []string{"ns/bare", "ns/blocked", dbA, "ns/job-x"}},
		{"restart time lost: counted from the deadline", 2 * timeout, []string{dbSts, webDep}, 0, ActionWait, []string{"ns/bare", "ns/blocked", dbA, "ns/job-x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			f.Now, f.AlreadyRestarted = t0.Add(tc.now), tc.restarted
			if tc.lastRestart > 0 {
				f.LastRestart = t0.Add(tc.lastRestart)
			}
			s := Next(f)
			if s.Action != tc.wantAction || !reflect.DeepEqual(s.Stuck, tc.wantStuck) || len(s.Lagging) != 4 {
				t.Fatalf("got action %s, stuck %v, lagging %v (%s)", s.Action, s.Stuck, s.Lagging, s.Message)
			}
			if len(tc.wantStuck) > 0 && !strings.Contains(s.Message, tc.wantStuck[0]) {
				t.Fatalf("message does not name the stuck pods: %s", s.Message)
			}
		})
	}
}

func TestAwaitSkipsExcludedPodsAndCompletes(t *testing.T) {
	f := Facts{Now: t0.Add(3 * timeout), ActiveAnchor: oldA, NextAnchor: newA, Bundle: []string{newA}, IssuerSignedBy: newA,
		Issuer: newIss, PhaseSince: t0, ConvergenceTimeout: timeout,
		Proxies: []Proxy{
			proxy(webA, webDep, newIss, newA),
			proxy("ns/bare", "", oldIss, oldA),
		}}
	if s := Next(f); s.Action != ActionWait || !reflect.DeepEqual(s.Stuck, []string{"ns/bare"}) {
		t.Fatalf("a bare laggard: %+v", s)
	}
	f.Proxies[1].Excluded = true
	s := Next(f)
	if s.Phase != PhasePromote || s.Action != ActionPromote || s.Total != 1 || !reflect.DeepEqual(s.Excluded, []string{"ns/bare"}) {
		t.Fatalf("excluding the laggard lets the rotation finish and reports it: %+v", s)
	}
	f.Proxies = f.Proxies[:1] // or it was deleted
	if s := Next(f); s.Action != ActionPromote || len(s.Excluded) != 0 {
		t.Fatalf("deleting the laggard lets the rotation finish: %+v", s)
	}
}
