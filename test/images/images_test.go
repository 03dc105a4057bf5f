package images

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

func TestBuildAndArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!static binary stand-in"), 0o755); err != nil {
		t.Fatal(err)
	}
	const ref = "example.local/prog:1"
	img, err := Build(Spec{Ref: ref, Binary: bin, Entrypoint: "/prog", User: "2102:2102"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "2102:2102" || cfg.Config.Entrypoint[0] != "/prog" || cfg.OS != "linux" {
		t.Fatalf("config: %+v", cfg.Config)
	}
	files := layerFiles(t, img)
	if files["prog"] != "#!static binary stand-in" {
		t.Fatalf("binary missing from layer: %v", files)
	}
	if _, ok := files["tmp/"]; !ok {
		t.Fatalf("no /tmp in layer: %v", files)
	}

	again, _ := Build(Spec{Ref: ref, Binary: bin, Entrypoint: "/prog", User: "2102:2102"})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("same input, different digests %s %s: re-imports would not be no-ops", d1, d2)
	}

	archive := filepath.Join(dir, "images.tar")
	if err := WriteArchive(archive, map[string]v1.Image{ref: img}); err != nil {
		t.Fatal(err)
	}
	index := archiveIndex(t, archive)
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations[containerdNameAnnotation] != ref {
		t.Fatalf("index.json does not name the image for containerd: %+v", index)
	}
}

func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func archiveIndex(t *testing.T, archive string) v1.IndexManifest {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json in archive: %v", err)
		}
		if h.Name == "index.json" {
			var idx v1.IndexManifest
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				t.Fatal(err)
			}
			return idx
		}
	}
}

func TestWithProxyTagsTagsOnlyProxies(t *testing.T) {
	plan := WithProxyTags(Plan("m:1", "1", ""), FaultsTag)
	proxies := 0
	for _, it := range plan {
		if (it.Package == "./cmd/proxy") != (it.Tags == FaultsTag) {
			t.Errorf("%s (%s): tags %q", it.Ref, it.Package, it.Tags)
		}
		if it.Package == "./cmd/proxy" {
			proxies++
		}
	}
	if proxies == 0 {
		t.Fatal("no proxy in the plan")
	}
	for _, it := range Plan("m:1", "1", "") {
		if it.Tags != "" {
			t.Errorf("default plan tags %s with %q", it.Ref, it.Tags)
		}
	}
}

// Every release that ships the CNI plugin has its image, holding the plugin
// binary at the path the chart's DaemonSet runs, tagged per release so an
// upgrade or rollback swaps the plugin.
func TestPlanHasEachReleasesCNIPlugin(t *testing.T) {
	refs := map[string]Item{}
	for _, it := range Plan("m:1", "1", "") {
		refs[it.Ref] = it
	}
	seen := map[string]bool{}
	for _, v := range versions.Supported() {
		r, _ := versions.Lookup(v)
		if !r.CNIPlugin {
			continue
		}
		it, ok := refs[r.CNIImage("")]
		if !ok || it.Package != "./cmd/meshkeeper-cni" || it.Version != r.ProxyVersion || filepath.Base(it.Package) != "meshkeeper-cni" {
			t.Errorf("%s: CNI image %+v (found %v)", v, it, ok)
		}
		if seen[r.CNIImage("")] {
			t.Errorf("%s: CNI image %s shared with another release", v, r.CNIImage(""))
		}
		seen[r.CNIImage("")] = true
	}
	if len(seen) == 0 {
		t.Fatal("no release ships the CNI plugin")
	}
}
