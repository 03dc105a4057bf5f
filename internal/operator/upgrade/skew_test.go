package upgrade

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSkew(t *testing.T) {
	supported := []string{"0.1.0", "0.1.1", "0.2.0", "0.2.3", "0.3.0", "1.0.0", "1.1.0"}
	cases := []struct {
		name, from, to string
		reason         string // "" when allowed
		mention        string
	}{
		{"patch upgrade", "0.1.0", "0.1.1", "", ""},
		{"next minor", "0.1.0", "0.2.0", "", ""},
		{"next minor, any patch", "0.1.1", "0.2.3", "", ""},
		{"same version", "0.2.0", "0.2.0", "", ""},
		{"nothing installed checks only the target", "", "0.3.0", "", ""},
		{"unknown target", "0.1.0", "0.1.9", SkewUnsupported, "0.1.0, 0.1.1"},
		{"unknown target even when nothing installed", "", "9.9.9", SkewUnsupported, "9.9.9"},
		{"downgrade minor", "0.2.0", "0.1.0", SkewDowngrade, "rollback"},
		{"downgrade patch", "0.2.3", "0.2.0", SkewDowngrade, "0.2.3"},
		{"skipped minor", "0.1.0", "0.3.0", SkewSkippedMinor, "0.2.x first"},
		{"major jump", "0.3.0", "1.0.0", SkewMajorChange, "major"},
		{"major jump even to .0 minor", "0.2.0", "1.1.0", SkewMajorChange, "major"},
		{"unparsable installed", "0.1", "0.1.1", SkewInvalid, "MAJOR.MINOR.PATCH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSkew(tc.from, tc.to, supported)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("CheckSkew(%q, %q) = %v, want allowed", tc.from, tc.to, err)
				}
				return
			}
			var se *SkewError
			if !errors.As(err, &se) || se.Reason != tc.reason {
				t.Fatalf("CheckSkew(%q, %q) = %v, want reason %s", tc.from, tc.to, err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("message %q should mention %q", err, tc.mention)
			}
		})
	}
}

func TestParseSemver(t *testing.T) {
	for _, bad := range []string{"", "1", "1.2", "1.2.3.4", "v1.2.3", "1.2.x", "01.2.3", "1.-2.3", "1.2.3-rc1"} {
		if _, err := ParseSemver(bad); err == nil {
			t.Errorf("ParseSemver(%q) accepted", bad)
		}
	}
	a, _ := ParseSemver("0.10.0")
	b, _ := ParseSemver("0.9.12")
	if a.Compare(b) != 1 || b.Compare(a) != -1 || a.Compare(a) != 0 {
		t.Fatal("versions compare numerically, not as text")
	}
}
