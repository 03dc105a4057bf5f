package identity

import (
	"encoding/pem"
	"testing"
	"time"
)

func TestChooseIssuer(t *testing.T) {
	now := time.Now()
	oldCA := newTestCA(t, "old", now.Add(time.Hour))
	newCA := newTestCA(t, "new", now.Add(time.Hour))
	bundleOf := func(cas ...*testCA) Bundle {
		var data []byte
		for _, ca := range cas {
			data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.anchor.Raw})...)
		}
		b, err := ParseBundle(data)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name      string
		current   *Issuer
		candidate *Issuer
		bundle    Bundle
		at        time.Time
		want      *Issuer
		held      bool
	}{
		{"first issuer in the bundle", nil, oldCA.issuer, bundleOf(oldCA), now, oldCA.issuer, false},
		{"first issuer, no bundle published", nil, oldCA.issuer, Bundle{}, now, oldCA.issuer, false},
		{"first issuer outside the bundle is held", nil, newCA.issuer, bundleOf(oldCA), now, nil, true},
		{"switch once the bundle has both anchors", oldCA.issuer, newCA.issuer, bundleOf(oldCA, newCA), now, newCA.issuer, false},
		{"switch before the bundle has the new anchor is held", oldCA.issuer, newCA.issuer, bundleOf(oldCA), now, oldCA.issuer, true},
		{"expired candidate is held", oldCA.issuer, newCA.issuer, bundleOf(oldCA, newCA), now.Add(2 * time.Hour), oldCA.issuer, true},
		{"no candidate keeps current", oldCA.issuer, nil, bundleOf(oldCA), now, oldCA.issuer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ChooseIssuer(tc.current, tc.candidate, tc.bundle, tc.at)
			if got.Issuer != tc.want || got.Held != tc.held {
				t.Fatalf("ChooseIssuer = %+v, want issuer %v held %v", got, tc.want, tc.held)
			}
		})
	}
}

func TestParseBundle(t *testing.T) {
	ca := newTestCA(t, "a", time.Now().Add(time.Hour))
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.anchor.Raw})
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"one anchor", good, false},
		{"empty", nil, true},
		{"garbage certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), true},
		{"only a key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("x")}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBundle(tc.data)
			if (err != nil) != tc.wantErr || (err == nil && !b.Known) {
				t.Fatalf("ParseBundle = %+v, %v", b, err)
			}
		})
	}
}
