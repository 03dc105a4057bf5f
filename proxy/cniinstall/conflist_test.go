package cniinstall

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// bridge is the local cluster's conflist, as test/cluster/render writes it.
const bridge = `{
  "cniVersion": "1.0.0",
  "name": "meshkeeper",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "mk-pods0",
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.10.0/24"}]]}
    }
  ]
}
`

const twoPlugins = `{"cniVersion":"0.4.0","name":"k8s-pod-network","plugins":[{"type":"calico","ipam":{"type":"calico-ipam"}},{"type":"portmap","capabilities":{"portMappings":true}}]}`

func TestPrimary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string
		want    string
		wantErr string
	}{
		{"the lowest-sorting conflist", []string{"20-b.conflist", "10-a.conflist", "99-z.conflist"}, "10-a.conflist", ""},
		{"other files are not configurations", []string{"README", ".meshkeeper-cni-1.tmp", "calico-kubeconfig", "10-a.conflist"}, "10-a.conflist", ""},
		{"a .conf sorts first", []string{"05-flannel.conf", "10-a.conflist"}, "", "single-plugin file, not a conflist"},
		{"a .json sorts first", []string{"00-x.json", "10-a.conflist"}, "", "00-x.json is a single-plugin file"},
		{"no configuration at all", []string{"README"}, "", "no network configuration"},
		{"an empty dir", nil, "", "no network configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Primary(tc.files)
			if !errMatches(err, tc.wantErr) || got != tc.want {
				t.Fatalf("Primary = %q, %v; want %q, error %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// Insert appends our entry as the last plugin, splicing bytes so the rest
// of the file is unchanged, and Remove gives back the exact input.
func TestInsertThenRemoveIsByteExact(t *testing.T) {
	for _, tc := range []struct{ name, in, wantOut string }{
		{"indented (the local cluster's)", bridge, strings.Replace(bridge, "\n    }\n  ]", "\n    },\n    "+string(Entry)+"\n  ]", 1)},
		{"compact, two plugins", twoPlugins, strings.Replace(twoPlugins, `true}}]}`, `true}},`+string(Entry)+`]}`, 1)},
		{"CRLF and tabs", "{\r\n\t\"cniVersion\": \"1.0.0\", \"name\": \"n\",\r\n\t\"plugins\": [\r\n\t\t{\"type\": \"ptp\"}\r\n\t]\r\n}\r\n",
			"{\r\n\t\"cniVersion\": \"1.0.0\", \"name\": \"n\",\r\n\t\"plugins\": [\r\n\t\t{\"type\": \"ptp\"},\r\n\t\t" + string(Entry) + "\r\n\t]\r\n}\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Insert([]byte(tc.in))
			if err != nil || !changed {
				t.Fatalf("Insert: changed %v, %v", changed, err)
			}
			if string(out) != tc.wantOut {
				t.Fatalf("Insert =\n%s\nwant\n%s", out, tc.wantOut)
			}
			if types := pluginTypes(t, out); types[len(types)-1] != PluginType {
				t.Fatalf("plugins %v: ours is not last", types)
			}
			if ok, err := Installed(out); !ok || err != nil {
				t.Fatalf("Installed = %v, %v", ok, err)
			}
			again, changed, err := Insert(out)
			if err != nil || changed || string(again) != string(out) {
				t.Fatalf("a second Insert changed the file (changed %v, %v)", changed, err)
			}
			back, changed, err := Remove(out)
			if err != nil || !changed || string(back) != tc.in {
				t.Fatalf("Remove = %q (changed %v, %v); want the original bytes %q", back, changed, err, tc.in)
			}
		})
	}
}

// What another agent may do to the file, and what Insert makes of it.
func TestInsertAfterAnotherAgent(t *testing.T) {
	entryFirst := `{"cniVersion":"1.0.0","name":"n","plugins":[` + string(Entry) + `,{"type":"bridge"}]}`
	for _, tc := range []struct {
		name        string
		in          string
		wantChanged bool
		wantTypes   []string
	}{
		{"rewrote the file without us", twoPlugins, true, []string{"calico", "portmap", PluginType}},
		{"re-encoded it with other key order and indentation", `{"plugins": [{"type": "bridge"}, {"capabilities": {"io.kubernetes.cri.pod-annotations": true}, "type": "meshkeeper-cni"}], "name": "n", "cniVersion": "1.0.0"}`,
			false, []string{"bridge", PluginType}},
		{"appended a plugin after ours", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"},` + string(Entry) + `,{"type":"istio-cni"}]}`,
			false, []string{"bridge", PluginType, "istio-cni"}},
		{"our entry first (left unchanged: it is ours, once)", entryFirst, false, []string{PluginType, "bridge"}},
		{"a stale entry of ours (an older release's)", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"},{"type":"meshkeeper-cni"},{"type":"portmap"}]}`,
			true, []string{"bridge", "portmap", PluginType}},
		{"our entry twice", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"},` + string(Entry) + `,` + string(Entry) + `]}`,
			true, []string{"bridge", PluginType}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Insert([]byte(tc.in))
			if err != nil || changed != tc.wantChanged {
				t.Fatalf("Insert: changed %v, %v; want changed %v", changed, err, tc.wantChanged)
			}
			if got := pluginTypes(t, out); !reflect.DeepEqual(got, tc.wantTypes) {
				t.Fatalf("plugins %v, want %v", got, tc.wantTypes)
			}
			if !changed && string(out) != tc.in {
				t.Fatal("unchanged, but the bytes differ")
			}
		})
	}
}

// Hostile and careless files: a clear error and nothing to write.
func TestInsertRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, wantErr string }{
		{"truncated JSON", `{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}`, "not valid JSON"},
		{"trailing garbage", twoPlugins + `}`, "not valid JSON"},
		{"empty file", ``, "not valid JSON"},
		{"a list, not an object", `[{"type":"bridge"}]`, "not a JSON object"},
		{"a single-plugin .conf's content", `{"cniVersion":"0.3.1","name":"n","type":"bridge"}`, `no "plugins" list`},
		{"plugins not a list", `{"name":"n","plugins":{"type":"bridge"}}`, `"plugins" is not a list`},
		{"no plugins", `{"name":"n","plugins":[]}`, `"plugins" is empty`},
		{"a plugin without a type", `{"name":"n","plugins":[{"type":"bridge"},{"name":"x"}]}`, `plugin 1 is not an object with a "type"`},
		{"a plugin that is a string", `{"name":"n","plugins":["bridge"]}`, `plugin 0 is not an object`},
		{"plugins twice", `{"name":"n","plugins":[{"type":"a"}],"plugins":[{"type":"b"}]}`, `"plugins" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Insert([]byte(tc.in))
			if !errMatches(err, tc.wantErr) || tc.wantErr == "" || changed || out != nil {
				t.Fatalf("Insert = %q, changed %v, %v; want error %q", out, changed, err, tc.wantErr)
			}
			if _, _, err := Remove([]byte(tc.in)); !errMatches(err, tc.wantErr) {
				t.Fatalf("Remove: %v; want error %q", err, tc.wantErr)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantChanged    bool
		wantErr        string
	}{
		{"not ours: unchanged", twoPlugins, twoPlugins, false, ""},
		{"ours standing first", `{"plugins":[` + string(Entry) + `, {"type":"bridge"}]}`, `{"plugins":[{"type":"bridge"}]}`, true, ""},
		{"ours in the middle", `{"plugins":[{"type":"a"}, {"type":"meshkeeper-cni"}, {"type":"b"}]}`, `{"plugins":[{"type":"a"}, {"type":"b"}]}`, true, ""},
		{"ours alone", `{"plugins":[` + string(Entry) + `]}`, "", false, "chains only meshkeeper-cni"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Remove([]byte(tc.in))
			if !errMatches(err, tc.wantErr) || changed != tc.wantChanged || (err == nil && string(out) != tc.want) {
				t.Fatalf("Remove = %q, changed %v, %v; want %q, changed %v, error %q", out, changed, err, tc.want, tc.wantChanged, tc.wantErr)
			}
		})
	}
}

func pluginTypes(t *testing.T, raw []byte) []string {
	t.Helper()
	var c struct {
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	var out []string
	for _, p := range c.Plugins {
		out = append(out, p.Type)
	}
	return out
}

func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
