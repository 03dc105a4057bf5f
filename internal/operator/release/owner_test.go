package release

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
)

func TestCheckOwner(t *testing.T) {
	mi := &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: "mesh2"}}
	cases := []struct {
		name    string
		rel     *helm.Release
		refused bool
	}{
		{"no release", nil, false},
		{"unclaimed release (written before the claim): adopted", &helm.Release{Name: ReleaseName}, false},
		{"own release", &helm.Release{Name: ReleaseName, Owner: "mesh2"}, false},
		{"another installation's release", &helm.Release{Name: ReleaseName, Namespace: "meshkeeper-system", Owner: "mesh"}, true},
	}
	for _, tc := range cases {
		err := checkOwner(tc.rel, mi)
		if s, ok := reconcileerr.AsStalled(err); tc.refused != ok || (ok && s.Reason != meshv1.ReasonConflict) {
			t.Errorf("%s: got %v, refused want %v", tc.name, err, tc.refused)
		}
	}
}
