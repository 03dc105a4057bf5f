package identity

import (
	"errors"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestWorkloadFromReview(t *testing.T) {
	aud := []string{contract.IdentityTokenAudience}
	for _, tc := range []struct {
		name    string
		review  TokenReview
		ns, sa  string
		wantErr error
	}{
		{"service account", TokenReview{true, "system:serviceaccount:shop:web", aud}, "shop", "web", nil},
		{"not authenticated", TokenReview{false, "system:serviceaccount:shop:web", aud}, "", "", errUnauthenticated},
		{"audience not confirmed", TokenReview{true, "system:serviceaccount:shop:web", nil}, "", "", errUnauthenticated},
		{"other audience", TokenReview{true, "system:serviceaccount:shop:web", []string{"api"}}, "", "", errUnauthenticated},
		{"human user", TokenReview{true, "alice", aud}, "", "", errForbidden},
		{"missing sa", TokenReview{true, "system:serviceaccount:shop", aud}, "", "", errForbidden},
		{"empty namespace", TokenReview{true, "system:serviceaccount::web", aud}, "", "", errForbidden},
		{"extra colon", TokenReview{true, "system:serviceaccount:shop:web:x", aud}, "", "", errForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, sa, err := WorkloadFromReview(tc.review)
			if !errors.Is(err, tc.wantErr) || ns != tc.ns || sa != tc.sa {
				t.Fatalf("got (%q, %q, %v), want (%q, %q, %v)", ns, sa, err, tc.ns, tc.sa, tc.wantErr)
			}
		})
	}
}
