package contract

import (
	"strconv"
	"testing"
)

func TestParsePortRanges(t *testing.T) {
	for in, want := range map[string]string{
		"3306":                 "3306",
		"3306,5000-5010":       "3306,5000-5010",
		" 25 , 587 ,":          "25,587",
		"":                     "",
		"1-65535":              "1-65535",
		"5000-5000":            "5000",
		DefaultOpaquePorts:     DefaultOpaquePorts,
		"3306,\t6379-6380 ,  ": "3306,6379-6380",
	} {
		r, err := ParsePortRanges(in)
		if err != nil || r.String() != want {
			t.Errorf("ParsePortRanges(%q) = %q, %v; want %q", in, r, err, want)
		}
	}
	for _, bad := range []string{"0", "65536", "5010-5000", "a", "1-", "-5", "3306;5432", "1-2-3", "80,x"} {
		if r, err := ParsePortRanges(bad); err == nil {
			t.Errorf("ParsePortRanges(%q) = %v, want an error", bad, r)
		}
	}
	many := "1"
	for i := 2; i <= 64; i++ {
		many += "," + strconv.Itoa(i)
	}
	if _, err := ParsePortRanges(many); err != nil {
		t.Errorf("64 entries refused: %v", err)
	}
	if _, err := ParsePortRanges(many + ",65"); err == nil {
		t.Error("65 entries accepted")
	}
}

func TestPortRangesContains(t *testing.T) {
	r, _ := ParsePortRanges("25,5000-5010")
	for port, want := range map[uint16]bool{25: true, 26: false, 4999: false, 5000: true, 5005: true, 5010: true, 5011: false} {
		if r.Contains(port) != want {
			t.Errorf("Contains(%d) = %v", port, !want)
		}
	}
}

func TestResolveOpaquePorts(t *testing.T) {
	a := func(v string) map[string]string { return map[string]string{OpaquePortsAnnotation: v} }
	tests := []struct {
		name   string
		levels []map[string]string
		want   string
	}{
		{"nothing set: defaults", []map[string]string{nil, {}}, DefaultOpaquePorts},
		{"pod wins", []map[string]string{a("7000"), a("8000")}, "7000"},
		{"namespace when the pod has none", []map[string]string{{}, a("8000-8001")}, "8000-8001"},
		{"invalid pod value falls through", []map[string]string{a("nope"), a("8000")}, "8000"},
		{"empty value: nothing opaque", []map[string]string{a(""), a("8000")}, ""},
	}
	for _, tt := range tests {
		if got := ResolveOpaquePorts(tt.levels...).String(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestOpaquePortsEnv(t *testing.T) {
	for _, v := range []string{"", NoOpaquePorts, "3306,5000-5010"} {
		r, err := ParseOpaquePortsEnv(v)
		if err != nil {
			t.Fatal(err)
		}
		want := v
		if v == "" {
			want = DefaultOpaquePorts
		}
		if got := OpaquePortsEnv(r); got != want {
			t.Errorf("%q: round trip %q", v, got)
		}
	}
	if _, err := ParseOpaquePortsEnv("x"); err == nil {
		t.Error("invalid env accepted")
	}
}
