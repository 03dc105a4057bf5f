package derived

import (
	"iter"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

type obj struct {
	uid types.UID
	rv  string
}

func objects(objs ...obj) iter.Seq2[types.UID, string] {
	return func(yield func(types.UID, string) bool) {
		for _, o := range objs {
			if !yield(o.uid, o.rv) {
				return
			}
		}
	}
}

func TestMemo(t *testing.T) {
	a, b, c := obj{"a", "1"}, obj{"b", "1"}, obj{"c", "1"}
	cases := []struct {
		name  string
		first []obj
		then  []obj
		kept  bool
	}{
		{"same objects, same order", []obj{a, b}, []obj{a, b}, true},
		{"same objects, other order", []obj{a, b}, []obj{b, a}, true},
		{"an object written", []obj{a, b}, []obj{a, {"b", "2"}}, false},
		{"an object deleted", []obj{a, b}, []obj{a}, false},
		{"an object added", []obj{a, b}, []obj{a, b, c}, false},
		{"one replaced by another", []obj{a, b}, []obj{a, c}, false},
		{"re-created under a new uid", []obj{a, b}, []obj{a, {"b2", "1"}}, false},
		{"no objects at all, twice", nil, nil, true},
		{"an object without a uid is never kept", []obj{a, {"", "1"}}, []obj{a, {"", "1"}}, false},
		{"an object without a resourceVersion is never kept", []obj{a, {"b", ""}}, []obj{a, {"b", ""}}, false},
		{"a duplicate uid is never kept", []obj{a, a}, []obj{a, a}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m Memo
			computed := 0
			get := func() int { return Get(&m, "k", func() int { computed++; return computed }) }
			m.Observe(objects(tc.first...))
			if got := get(); got != 1 {
				t.Fatalf("first Get = %d, want 1", got)
			}
			m.Observe(objects(tc.then...))
			got := get()
			if kept := got == 1; kept != tc.kept {
				t.Fatalf("second Get = %d (computed %d times); kept = %v, want %v", got, computed, kept, tc.kept)
			}
		})
	}
}

func TestMemoKeysAndBounds(t *testing.T) {
	var m Memo
	m.Observe(objects(obj{"a", "1"}))
	calls := map[string]int{}
	get := func(key string) string {
		return Get(&m, key, func() string { calls[key]++; return key })
	}
	get("x")
	get("y")
	get("x")
	if calls["x"] != 1 || calls["y"] != 1 || m.Hits() != 1 {
		t.Fatalf("calls %v, hits %d; want one computation per key and one hit", calls, m.Hits())
	}
	for i := range maxValues + 1 {
		get(string(rune('A' + i)))
	}
	if len(m.vals) > maxValues {
		t.Fatalf("memo holds %d values, bound %d", len(m.vals), maxValues)
	}
}

func TestNilMemoComputesEveryTime(t *testing.T) {
	var m *Memo
	m.Observe(objects(obj{"a", "1"}))
	n := 0
	for range 3 {
		Get(m, "k", func() int { n++; return n })
	}
	if n != 3 || m.Hits() != 0 {
		t.Fatalf("computed %d times, hits %d; want 3 and 0", n, m.Hits())
	}
}
