// Command olmimages builds, without a daemon, the images OLM's bundle-unpack Job
// runs on the local cluster and imports them into its containerd:
//
//   - the bundle image, from bundle/ as bundle.Dockerfile lays it out;
//   - an opm image (opm at /bin/opm) for the Job's `opm alpha bundle extract`;
//   - a util image with /bin/cp and OLM's /bin/cpb for its init container.
//
// It prints the bundle image by digest: OLM pulls tag references with
// imagePullPolicy Always, which cannot work without a registry.
//
//	go run ./cmd/olmimages -root ../.. -bin ../../bin/olm
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/meshkeeper/meshkeeper/test/cluster"
	"github.com/meshkeeper/meshkeeper/test/images"
	"github.com/meshkeeper/meshkeeper/test/olm/bundlegen"
)

const (
	OPMImage  = "meshkeeper.local/opm:local"
	UtilImage = "meshkeeper.local/olm-util:local"
)

var epoch = time.Unix(0, 0).UTC()

type file struct {
	name string // in the image, without a leading slash
	data []byte
	mode int64
}

func main() {
	root := flag.String("root", "../..", "meshkeeper checkout")
	bin := flag.String("bin", "../../bin/olm", "directory with opm, cpb and cp")
	version := flag.String("version", "", "operator version (default: the Makefile's)")
	clusterDir := flag.String("cluster-dir", os.Getenv("MESHKEEPER_CLUSTER_DIR"), "local cluster work dir")
	flag.Parse()
	if err := run(*root, *bin, *version, *clusterDir); err != nil {
		fmt.Fprintln(os.Stderr, "olmimages:", err)
		os.Exit(1)
	}
}

func run(root, bin, version, clusterDir string) error {
	if version == "" {
		v, err := bundlegen.MakefileVersion(root)
		if err != nil {
			return err
		}
		version = v
	}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(bin, name)) }
	opm, err := read("opm")
	if err != nil {
		return err
	}
	cpb, err := read("cpb")
	if err != nil {
		return err
	}
	cp, err := read("cp")
	if err != nil {
		return err
	}

	imgs := map[string]v1.Image{}
	if imgs[OPMImage], err = build([]file{{"bin/opm", opm, 0o755}}, nil); err != nil {
		return err
	}
	if imgs[UtilImage], err = build([]file{{"bin/cp", cp, 0o755}, {"bin/cpb", cpb, 0o755}}, nil); err != nil {
		return err
	}

	// The bundle image: bundle/{manifests,metadata,tests} at /, labels as in
	// metadata/annotations.yaml (what bundle.Dockerfile does).
	var files []file
	dir := filepath.Join(root, bundlegen.BundleRoot)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		files = append(files, file{filepath.ToSlash(rel), data, 0o644})
		return err
	})
	if err != nil {
		return err
	}
	r, err := bundlegen.Render(root, version)
	if err != nil {
		return err
	}
	bundleRef := r.Options.BundleImage
	if imgs[bundleRef], err = build(files, r.Bundle.Annotations); err != nil {
		return err
	}
	digest, err := imgs[bundleRef].Digest()
	if err != nil {
		return err
	}

	// Also name the bundle by digest, so that the kubelet finds the digest
	// reference in containerd instead of pulling it.
	repo, _, _ := strings.Cut(bundleRef, ":")
	byDigest := repo + "@" + digest.String()
	imgs[byDigest] = imgs[bundleRef]

	archive := filepath.Join(bin, "olm-images.tar")
	if err := images.WriteArchive(archive, imgs); err != nil {
		return err
	}
	if clusterDir == "" {
		clusterDir = cluster.DefaultWorkDir
	}
	socket := cluster.Paths{Root: clusterDir}.ContainerdSocket()
	if err := images.Import(context.Background(), socket, archive, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", OPMImage, UtilImage, byDigest)
	return nil
}

// build makes a single-layer image of the files, with PATH=/bin.
func build(files []file, labels map[string]string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{"tmp": true}
	for _, f := range files {
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Env = []string{"PATH=/bin", "HOME=/tmp"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = labels
	return mutate.ConfigFile(img, cfg)
}
