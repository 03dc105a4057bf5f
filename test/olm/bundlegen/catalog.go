package bundlegen

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
)

// File-based catalog (FBC) schemas, as `opm serve` reads them.
const (
	SchemaPackage = "olm.package"
	SchemaChannel = "olm.channel"
	SchemaBundle  = "olm.bundle"
	// PackageFile holds the package and channel blobs; each bundle has its own
	// file, named after the CSV, which stays in the catalog after its release.
	PackageFile = "package.yaml"
)

// ChannelEntry is one bundle of a channel and the upgrade edges into it.
type ChannelEntry struct {
	Name      string `json:"name"`
	Replaces  string `json:"replaces,omitempty"`
	SkipRange string `json:"skipRange,omitempty"`
}

// Property is an olm.bundle property.
type Property struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// BundleFile is the catalog file of a bundle.
func BundleFile(csvName string) string { return csvName + ".yaml" }

// ChannelEntries returns the entries of every channel for the given operator
// versions: "candidate*" channels carry every version, the others only
// versions without a pre-release part. Each entry replaces the one before it
// in its channel and skips every older version, so any release upgrades to the
// channel head in one step.
func ChannelEntries(pkg string, channels []string, versions []string) (map[string][]ChannelEntry, error) {
	vs := make([]semver.Version, 0, len(versions))
	seen := map[string]bool{}
	for _, v := range versions {
		sv, err := semver.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("version %q: %w", v, err)
		}
		if seen[sv.String()] {
			continue
		}
		seen[sv.String()] = true
		vs = append(vs, sv)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].LT(vs[j]) })
	out := map[string][]ChannelEntry{}
	for _, ch := range channels {
		var entries []ChannelEntry
		for _, v := range vs {
			if len(v.Pre) > 0 && !isCandidate(ch) {
				continue
			}
			e := ChannelEntry{Name: CSVName(pkg, v.String())}
			if n := len(entries); n > 0 {
				e.Replaces = entries[n-1].Name
				e.SkipRange = "<" + v.String()
			}
			entries = append(entries, e)
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("channel %q would be empty", ch)
		}
		out[ch] = entries
	}
	return out, nil
}

func isCandidate(ch string) bool { return strings.HasPrefix(ch, "candidate") }

// Catalog renders the FBC files of the package (relative to its catalog
// directory) for bundle b: the package and channel blobs over every released
// version (o.Previous and o.Version) and the olm.bundle blob of b. The bundle
// blob embeds every manifest as an olm.bundle.object property, so OLM installs
// from the catalog alone, without pulling the bundle image.
func Catalog(b *Bundle, o Options) (map[string][]byte, error) {
	channels, err := ChannelEntries(o.Package, o.Channels, append([]string{o.Version}, o.Previous...))
	if err != nil {
		return nil, err
	}
	var pkgFile bytes.Buffer
	docs := []any{map[string]any{
		"schema":         SchemaPackage,
		"name":           o.Package,
		"defaultChannel": o.DefaultChannel,
		"description":    b.CSV.Annotations["description"],
		"icon":           map[string]string{"base64data": base64.StdEncoding.EncodeToString(o.Icon), "mediatype": o.IconMediaType},
	}}
	names := make([]string, 0, len(channels))
	for ch := range channels {
		names = append(names, ch)
	}
	sort.Strings(names)
	for _, ch := range names {
		docs = append(docs, map[string]any{"schema": SchemaChannel, "package": o.Package, "name": ch, "entries": channels[ch]})
	}
	for _, d := range docs {
		y, err := marshalYAML(d)
		if err != nil {
			return nil, err
		}
		pkgFile.WriteString("---\n")
		pkgFile.Write(y)
	}

	props := []Property{{Type: "olm.package", Value: map[string]string{"packageName": o.Package, "version": o.Version}}}
	for _, crd := range b.CSV.Spec.CustomResourceDefinitions.Owned {
		props = append(props, Property{Type: "olm.gvk", Value: map[string]string{"group": crdGroup(crd.Name), "kind": crd.Kind, "version": crd.Version}})
	}
	for _, obj := range b.Objects {
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		props = append(props, Property{Type: "olm.bundle.object", Value: map[string]string{"data": base64.StdEncoding.EncodeToString(data)}})
	}
	related := []map[string]string{{"name": "", "image": o.BundleImage}}
	for _, ri := range b.CSV.Spec.RelatedImages {
		related = append(related, map[string]string{"name": ri.Name, "image": ri.Image})
	}
	bundle, err := marshalYAML(map[string]any{
		"schema":        SchemaBundle,
		"name":          b.Name,
		"package":       o.Package,
		"image":         o.BundleImage,
		"properties":    props,
		"relatedImages": related,
	})
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		PackageFile:        pkgFile.Bytes(),
		BundleFile(b.Name): append([]byte("---\n"), bundle...),
	}, nil
}

// crdGroup is the group part of a CRD name <plural>.<group>.
func crdGroup(name string) string {
	_, group, _ := strings.Cut(name, ".")
	return group
}
