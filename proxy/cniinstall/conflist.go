// Package cniinstall is the node agent of meshkeeper's CNI plugin
// (`meshkeeper-cni install`, run by the chart's DaemonSet): it copies the
// plugin onto the node, chains it into the node's existing conflist, keeps
// it there when another agent rewrites the file, and takes it out again on
// uninstall, leaving the file byte-for-byte as it was.
package cniinstall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/meshkeeper/meshkeeper/proxy/cniplugin"
)

// PluginType is the plugin's "type" in a conflist, which is also the name of
// its binary in the CNI bin dir.
const PluginType = "meshkeeper-cni"

// Entry is the plugin's conflist entry. It asks the runtime for the pod's
// annotations, which is how the plugin knows a pod is meshed.
var Entry = []byte(`{"type":"` + PluginType + `","capabilities":{"` + cniplugin.PodAnnotationsCapability + `":true}}`)

// configExts are the files libcni (containerd, CRI-O) loads from the conf dir.
var configExts = []string{".conf", ".conflist", ".json"}

// Primary picks, from the names of the regular files in a conf dir, the one
// the runtime uses: the lowest-sorting network configuration. Only a
// conflist can chain a plugin; a single-plugin .conf or .json is refused
// rather than rewritten into another format under the runtime's feet.
func Primary(names []string) (string, error) {
	var configs []string
	for _, n := range names {
		if slices.Contains(configExts, filepath.Ext(n)) {
			configs = append(configs, n)
		}
	}
	if len(configs) == 0 {
		return "", errors.New("no network configuration (*.conflist) in the CNI conf dir: the node's network plugin has not written one yet, or cni.confDir is wrong")
	}
	slices.Sort(configs)
	if filepath.Ext(configs[0]) != ".conflist" {
		return "", fmt.Errorf("the node's network configuration %s is a single-plugin file, not a conflist: meshkeeper-cni can only be chained in a conflist", configs[0])
	}
	return configs[0], nil
}

// span is one element of a conflist's "plugins" array, by byte offsets.
type span struct {
	start, end int
	typ        string
}

// conflist is where a conflist's plugins lie in its bytes.
type conflist struct {
	open    int // just after the plugins array's '['
	plugins []span
}

// parse locates the plugins of a conflist without re-encoding it, so edits
// splice bytes and leave the rest of the file exactly as it was.
func parse(raw []byte) (conflist, error) {
	if !json.Valid(raw) {
		return conflist{}, errors.New("not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, _ := dec.Token(); t != json.Delim('{') {
		return conflist{}, errors.New("not a JSON object")
	}
	var out conflist
	found := false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return conflist{}, err
		}
		if key != "plugins" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return conflist{}, err
			}
			continue
		}
		if found {
			return conflist{}, errors.New(`"plugins" appears twice`)
		}
		found = true
		if out, err = parsePlugins(dec); err != nil {
			return conflist{}, err
		}
	}
	if !found {
		return conflist{}, errors.New(`no "plugins" list: not a conflist`)
	}
	if len(out.plugins) == 0 {
		return conflist{}, errors.New(`"plugins" is empty: there is no network plugin to chain after`)
	}
	return out, nil
}

func parsePlugins(dec *json.Decoder) (conflist, error) {
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return conflist{}, errors.New(`"plugins" is not a list`)
	}
	out := conflist{open: int(dec.InputOffset())}
	for dec.More() {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return conflist{}, err
		}
		end := int(dec.InputOffset())
		var p struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(m, &p); err != nil || p.Type == "" {
			return conflist{}, fmt.Errorf("plugin %d is not an object with a \"type\"", len(out.plugins))
		}
		out.plugins = append(out.plugins, span{start: end - len(m), end: end, typ: p.Type})
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return conflist{}, err
	}
	return out, nil
}

// ours lists the plugin's entries in a parsed conflist.
func (c conflist) ours() []int {
	var out []int
	for i, p := range c.plugins {
		if p.typ == PluginType {
			out = append(out, i)
		}
	}
	return out
}

// Installed reports whether raw chains exactly our entry, once.
func Installed(raw []byte) (bool, error) {
	c, err := parse(raw)
	if err != nil {
		return false, err
	}
	return c.installed(raw), nil
}

func (c conflist) installed(raw []byte) bool {
	o := c.ours()
	return len(o) == 1 && sameJSON(raw[c.plugins[o[0]].start:c.plugins[o[0]].end], Entry)
}

// Insert returns raw with our entry appended as the last plugin. A file that
// already chains exactly our entry once is left unchanged, wherever it
// stands: another chained plugin that also wants to be last would otherwise
// fight us forever. A stale or repeated entry of ours is replaced.
//
// The entry is spliced in right after the last plugin as "," + the
// whitespace the file puts before that plugin + Entry, so Remove, which cuts
// from the previous plugin's end to ours, gives back the exact bytes.
func Insert(raw []byte) ([]byte, bool, error) {
	c, err := parse(raw)
	if err != nil {
		return nil, false, err
	}
	if c.installed(raw) {
		return raw, false, nil
	}
	if len(c.ours()) > 0 {
		if raw, _, err = Remove(raw); err != nil {
			return nil, false, err
		}
		if c, err = parse(raw); err != nil {
			return nil, false, err
		}
	}
	last := c.plugins[len(c.plugins)-1]
	prevEnd := c.open
	if n := len(c.plugins); n > 1 {
		prevEnd = c.plugins[n-2].end
	}
	indent := strings.TrimLeft(string(raw[prevEnd:last.start]), ",")
	out := make([]byte, 0, len(raw)+len(indent)+len(Entry)+1)
	out = append(out, raw[:last.end]...)
	out = append(out, ',')
	out = append(out, indent...)
	out = append(out, Entry...)
	out = append(out, raw[last.end:]...)
	return out, true, nil
}

// Remove returns raw without any entry of ours. Each is cut from the end of
// the plugin before it (the comma and whitespace Insert added) to its own
// end; an entry standing first is cut up to the next plugin.
func Remove(raw []byte) ([]byte, bool, error) {
	changed := false
	for {
		c, err := parse(raw)
		if err != nil {
			return nil, false, err
		}
		o := c.ours()
		if len(o) == 0 {
			return raw, changed, nil
		}
		if len(o) == len(c.plugins) {
			return nil, false, errors.New("the conflist chains only meshkeeper-cni: there is no network plugin to keep")
		}
		i := o[len(o)-1]
		from, to := c.plugins[i].start, c.plugins[i].end
		if i > 0 {
			from = c.plugins[i-1].end
		} else {
			to = c.plugins[i+1].start
		}
		raw = append(slices.Clone(raw[:from]), raw[to:]...)
		changed = true
	}
}

// sameJSON compares values, not bytes: an agent that re-encodes the file
// (other key order, indentation) has not changed our entry, and replacing
// it would start a rewrite fight.
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
