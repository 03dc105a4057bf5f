package trust

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/pki"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestDecideIssuer(t *testing.T) {
	anchor, _ := pki.GenerateAnchor(pki.AnchorRequest{Now: now, Validity: 365 * 24 * time.Hour})
	other, _ := pki.GenerateAnchor(pki.AnchorRequest{Now: now, Validity: 365 * 24 * time.Hour})
	issuer, _ := pki.GenerateIssuer(pki.IssuerRequest{Anchor: anchor, Now: now, Validity: 10 * 24 * time.Hour})
	foreign, _ := pki.GenerateIssuer(pki.IssuerRequest{Anchor: other, Now: now, Validity: 10 * 24 * time.Hour})
	cases := []struct {
		name    string
		current *pki.KeyPair
		at      time.Time
		issue   bool
		reason  string
	}{
		{"missing", nil, now, true, "no issuer yet"},
		{"signed by another anchor", foreign, now, true, "not signed by the current trust anchor"},
		{"fresh and valid is kept", issuer, now.Add(24 * time.Hour), false, ""},
		{"inside the renewal window", issuer, now.Add(8 * 24 * time.Hour), true, "renewal window"},
		{"expired", issuer, now.Add(11 * 24 * time.Hour), true, "not signed by the current trust anchor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideIssuer(tc.current, anchor, 3*24*time.Hour, tc.at)
			if d.Issue != tc.issue || (tc.reason != "" && !strings.Contains(d.Reason, tc.reason)) {
				t.Fatalf("DecideIssuer = %+v, want issue=%v reason~%q", d, tc.issue, tc.reason)
			}
		})
	}
}

func TestWebhookNeedsCertificate(t *testing.T) {
	ca, _ := pki.GenerateServingCA("ca", now, 365*24*time.Hour)
	otherCA, _ := pki.GenerateServingCA("other", now, 365*24*time.Hour)
	names := InjectorDNSNames("meshkeeper-system")
	serving, _ := pki.GenerateServing(pki.ServingRequest{CA: ca, DNSNames: names, Now: now, Validity: 365 * 24 * time.Hour})
	cases := []struct {
		name  string
		ca    *pki.KeyPair
		names []string
		at    time.Time
		want  bool
	}{
		{"valid", ca, names, now, false},
		{"missing CA", nil, names, now, true},
		{"CA does not sign it", otherCA, names, now, true},
		{"namespace changed", ca, InjectorDNSNames("elsewhere"), now, true},
		{"within a month of expiry", ca, names, now.Add(340 * 24 * time.Hour), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var caCert *x509.Certificate
			if tc.ca != nil {
				caCert = tc.ca.Cert
			}
			if got := WebhookNeedsCertificate(caCert, serving, tc.names, tc.at); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	a, b := now.Add(time.Hour), now.Add(2*time.Hour)
	if got := NextCheck(now, b, time.Time{}, a); !got.Equal(a) {
		t.Errorf("NextCheck = %s, want earliest %s", got, a)
	}
	if got := NextCheck(now, now.Add(-time.Hour)); !got.Equal(now) {
		t.Errorf("a time in the past means now, got %s", got)
	}
}
