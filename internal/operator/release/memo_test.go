package release

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm/helmtest"
)

// parsingHelm "parses" a manifest into one ConfigMap named after it and
// counts the parses.
type parsingHelm struct {
	helmtest.Fake
	parses int
}

func (p *parsingHelm) Objects(rel *helm.Release) ([]*unstructured.Unstructured, error) {
	p.parses++
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetName(rel.Manifest)
	return []*unstructured.Unstructured{u}, nil
}

func TestMemoHelmParsesAManifestOncePerContent(t *testing.T) {
	inner := &parsingHelm{}
	h := &MemoHelm{HelmClient: inner, Memo: NewMemo(clocktesting.NewFakePassiveClock(time.Unix(0, 0)))}
	rel := &helm.Release{Namespace: "mesh", Name: "cp", Revision: 1, Manifest: "a"}

	first, err := h.Objects(rel)
	if err != nil || len(first) != 1 || first[0].GetName() != "a" {
		t.Fatalf("Objects = %v, %v", first, err)
	}
	first[0].SetName("edited by a caller")
	again, _ := h.Objects(rel)
	if inner.parses != 1 {
		t.Fatalf("an unchanged manifest was parsed %d times, want once", inner.parses)
	}
	if again[0].GetName() != "a" {
		t.Fatalf("a caller's edit reached the memo: %q", again[0].GetName())
	}

	changed := &helm.Release{Namespace: "mesh", Name: "cp", Revision: 1, Manifest: "b"}
	got, _ := h.Objects(changed)
	if inner.parses != 2 || got[0].GetName() != "b" {
		t.Fatalf("a changed manifest (same revision) was not parsed again: parses %d, object %q", inner.parses, got[0].GetName())
	}
	if objs, err := h.Objects(nil); objs != nil || err != nil {
		t.Fatalf("no release: %v, %v", objs, err)
	}
}
