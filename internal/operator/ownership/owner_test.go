package ownership

import (
	"testing"
	"time"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
)

func TestOwner(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	cases := []struct {
		name  string
		cands []Candidate
		want  string
	}{
		{"none", nil, ""},
		{"alone", []Candidate{{Name: "mesh", Created: t1}}, "mesh"},
		{"oldest wins", []Candidate{{Name: "mesh2", Created: t1}, {Name: "mesh", Created: t0}}, "mesh"},
		{"same second: name breaks the tie", []Candidate{{Name: "b", Created: t0}, {Name: "a", Created: t0}}, "a"},
		{"a claim beats age", []Candidate{{Name: "a", Created: t0}, {Name: "b", Created: t1, Claimed: true}}, "b"},
		{"a claim beats name in the same second", []Candidate{{Name: "a", Created: t0}, {Name: "b", Created: t0, Claimed: true}}, "b"},
		{"two claimants (left by an older operator): oldest", []Candidate{{Name: "mesh2", Created: t1, Claimed: true}, {Name: "mesh", Created: t0, Claimed: true}}, "mesh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Owner(tc.cands); got != tc.want {
				t.Fatalf("Owner = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		labelled, me string
		refused      bool
	}{
		{"", "mesh", false},
		{"mesh", "mesh", false},
		{"mesh", "mesh2", true},
	}
	for _, tc := range cases {
		err := Check("Secret", "ns/x", tc.labelled, tc.me)
		if (err != nil) != tc.refused {
			t.Fatalf("Check(%q, %q) = %v, refused want %v", tc.labelled, tc.me, err, tc.refused)
		}
		if err == nil {
			continue
		}
		if s, ok := reconcileerr.AsStalled(err); !ok || s.Reason != meshv1.ReasonConflict {
			t.Fatalf("want Stalled/Conflict, got %v", err)
		}
	}
}
