package trust

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/pki"
)

func TestDecideWebhook(t *testing.T) {
	const year = 365 * 24 * time.Hour
	names := InjectorDNSNames("meshkeeper-system")
	oldCA, _ := pki.GenerateServingCA("old", now, year)
	newCA, _ := pki.GenerateServingCA("new", now.Add(335*24*time.Hour), year)
	strayCA, _ := pki.GenerateServingCA("stray", now, year)
	serve := func(ca *pki.KeyPair, at time.Time, n []string) *pki.KeyPair {
		kp, err := pki.GenerateServing(pki.ServingRequest{CA: ca, DNSNames: n, Now: at, Validity: year})
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	old, next := serve(oldCA, now, names), serve(newCA, now.Add(335*24*time.Hour), names)
	stray := serve(strayCA, now, names)
	elsewhere := serve(oldCA, now, InjectorDNSNames("elsewhere"))
	due := now.Add(336 * 24 * time.Hour)
	both := []*x509.Certificate{oldCA.Cert, newCA.Cert}
	only := func(c ...*pki.KeyPair) []*x509.Certificate {
		var out []*x509.Certificate
		for _, kp := range c {
			out = append(out, kp.Cert)
		}
		return out
	}
	cases := []struct {
		name   string
		f      WebhookFacts
		want   WebhookAction
		reason string
	}{
		{"first install", WebhookFacts{}, WebhookCreate, "no readable"},
		{"no CA signs it", WebhookFacts{CAs: only(strayCA), Serving: old}, WebhookCreate, "signed by no CA"},
		{"expired", WebhookFacts{Now: now.Add(2 * year), CAs: only(oldCA), Serving: old}, WebhookCreate, "expired"},
		{"other names", WebhookFacts{CAs: only(oldCA), Serving: elsewhere}, WebhookCreate, "other DNS names"},
		{"valid and not due", WebhookFacts{CAs: only(oldCA), Serving: old}, WebhookKeep, ""},
		{"due: staged, never replaced", WebhookFacts{Now: due, CAs: only(oldCA), Serving: old}, WebhookStage, "renewal window"},
		{"staged, no live configuration", WebhookFacts{Now: due, CAs: both, Serving: old, Staged: next}, WebhookAwaitConfig, "does not trust the new CA"},
		{"staged, live trusts only the old CA", WebhookFacts{Now: due, CAs: both, Serving: old, Staged: next, Live: only(oldCA)}, WebhookAwaitConfig, "does not trust the new CA"},
		{"staged, live trusts the new CA", WebhookFacts{Now: due, CAs: both, Serving: old, Staged: next, Live: both}, WebhookSwap, "trusts the new CA"},
		{"staged pair signed by no CA in ca.crt", WebhookFacts{Now: due, CAs: only(oldCA), Serving: old, Staged: stray, Live: only(oldCA, strayCA)}, WebhookStage, "unusable"},
		{"expired while staged, new CA trusted", WebhookFacts{Now: now.Add(year + time.Hour), CAs: both, Serving: old, Staged: next, Live: both}, WebhookSwap, "expired"},
		{"expired while staged, new CA not trusted", WebhookFacts{Now: now.Add(year + time.Hour), CAs: both, Serving: old, Staged: next, Live: only(oldCA)}, WebhookCreate, "expired"},
		{"swapped, injector not read", WebhookFacts{Now: due, CAs: both, Serving: next, Live: both}, WebhookAwaitInjector, "not yet seen"},
		{"swapped, injector presents the old", WebhookFacts{Now: due, CAs: both, Serving: next, Live: both, Presented: only(old)}, WebhookAwaitInjector, "still presents"},
		{"swapped, one pod presents the old", WebhookFacts{Now: due, CAs: both, Serving: next, Live: both, Presented: only(next, old)}, WebhookAwaitInjector, "still presents"},
		{"swapped, every pod presents the new", WebhookFacts{Now: due, CAs: both, Serving: next, Live: both, Presented: only(next, next)}, WebhookRetire, "every injector pod"},
		{"swapped, live lost the new CA", WebhookFacts{Now: due, CAs: both, Serving: next, Live: only(oldCA), Presented: only(next)}, WebhookAwaitConfig, "serving CA"},
		{"overlap outlives the next renewal", WebhookFacts{Now: due.Add(year - 10*24*time.Hour), CAs: both, Serving: next, Live: both}, WebhookStage, "renewal window"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.DNSNames = names
			if tc.f.Now.IsZero() {
				tc.f.Now = now
			}
			got := DecideWebhook(tc.f)
			if got.Action != tc.want || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("DecideWebhook = %+v, want %s with reason ~%q", got, tc.want, tc.reason)
			}
		})
	}
}

func TestStagedCAsKeepsTheUnexpiredAndAppendsTheNew(t *testing.T) {
	const year = 365 * 24 * time.Hour
	expired, _ := pki.GenerateServingCA("expired", now.Add(-2*year), year)
	current, _ := pki.GenerateServingCA("current", now, year)
	next, _ := pki.GenerateServingCA("next", now, year)
	got := StagedCAs([]*x509.Certificate{expired.Cert, current.Cert, next.Cert}, next.Cert, now)
	if len(got) != 2 || !got[0].Equal(current.Cert) || !got[1].Equal(next.Cert) {
		t.Fatalf("StagedCAs kept %d CAs, want [current next]", len(got))
	}
}
