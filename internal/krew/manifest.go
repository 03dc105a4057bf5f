// Package krew packages kubectl-meshkeeper for krew: one tar.gz per platform
// holding the binary and LICENSE, and the plugin manifest naming each
// archive's URL and sha256 (krew refuses an archive whose digest differs).
// The manifest is generated from the archives actually built, so no digest
// is ever typed in by hand (make krew).
package krew

import (
	"fmt"
	"regexp"

	"sigs.k8s.io/yaml"
)

// Plugin is the part of krew's index.krew.dev/v1alpha2 Plugin schema the
// manifest uses (sigs.k8s.io/krew/pkg/index; not imported: it would pin the
// module's Kubernetes libraries to krew's).
type Plugin struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   Metadata   `json:"metadata"`
	Spec       PluginSpec `json:"spec"`
}

type Metadata struct {
	Name string `json:"name"`
}

type PluginSpec struct {
	Version          string     `json:"version"`
	Homepage         string     `json:"homepage"`
	ShortDescription string     `json:"shortDescription"`
	Description      string     `json:"description"`
	Platforms        []Platform `json:"platforms"`
}

type Platform struct {
	Selector Selector `json:"selector"`
	URI      string   `json:"uri"`
	Sha256   string   `json:"sha256"`
	Bin      string   `json:"bin"`
	Files    []FileOp `json:"files"`
}

type Selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type FileOp struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Names inside every archive.
const (
	BinName     = "kubectl-meshkeeper"
	LicenseName = "LICENSE"
	pluginName  = "meshkeeper"
	apiVersion  = "krew.googlecontainertools.github.com/v1alpha2"
	homepage    = "https://github.com/meshkeeper/meshkeeper"
	shortDesc   = "Check, inspect and operate a meshkeeper service mesh"
	description = `check (--pre before install) runs each health check with a hint and
exits 1 naming what failed; status shows the installation at a glance;
stat shows success rate, RPS and latency per workload from the proxies'
metrics (read through the API server, no port-forward); upgrade
plan|approve|pause|resume and trust status|rotate operate the mesh.
`
)

// Archive is one built platform archive.
type Archive struct {
	OS, Arch string
	// Name is the archive's file name (ArchiveName), Sha256 its hex digest.
	Name, Sha256 string
}

// ArchiveName is the file name of a platform's archive.
func ArchiveName(goos, goarch string) string {
	return fmt.Sprintf("%s_%s_%s.tar.gz", BinName, goos, goarch)
}

var (
	semver    = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Manifest builds the plugin manifest for the archives, downloadable under
// baseURL. krew wants a v-prefixed semantic version and a digest per archive.
func Manifest(version, baseURL string, archives []Archive) (Plugin, error) {
	if !semver.MatchString(version) {
		return Plugin{}, fmt.Errorf("version %q: krew wants a semantic version with a leading v (v0.1.0)", version)
	}
	if baseURL == "" {
		return Plugin{}, fmt.Errorf("no base URL for the archives")
	}
	if len(archives) == 0 {
		return Plugin{}, fmt.Errorf("no archives")
	}
	p := Plugin{APIVersion: apiVersion, Kind: "Plugin", Metadata: Metadata{Name: pluginName},
		Spec: PluginSpec{Version: version, Homepage: homepage, ShortDescription: shortDesc, Description: description}}
	seen := map[string]bool{}
	for _, a := range archives {
		key := a.OS + "/" + a.Arch
		switch {
		case a.OS == "" || a.Arch == "":
			return Plugin{}, fmt.Errorf("archive %q: no os or arch", a.Name)
		case seen[key]:
			return Plugin{}, fmt.Errorf("two archives for %s", key)
		case !hexDigest.MatchString(a.Sha256):
			return Plugin{}, fmt.Errorf("archive %s: sha256 %q is not 64 lowercase hex digits", a.Name, a.Sha256)
		}
		seen[key] = true
		p.Spec.Platforms = append(p.Spec.Platforms, Platform{
			Selector: Selector{MatchLabels: map[string]string{"os": a.OS, "arch": a.Arch}},
			URI:      baseURL + "/" + a.Name, Sha256: a.Sha256, Bin: BinName,
			Files: []FileOp{{From: BinName, To: "."}, {From: LicenseName, To: "."}},
		})
	}
	return p, nil
}

// Marshal renders the manifest as YAML.
func (p Plugin) Marshal() ([]byte, error) { return yaml.Marshal(p) }
