package images

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec describes an image holding one static binary.
type Spec struct {
	// Ref is the full image reference, e.g. ghcr.io/meshkeeper/proxy:0.1.0.
	Ref string
	// Binary is the path of the static binary on this machine.
	Binary string
	// Entrypoint is where the binary lives inside the image, e.g. /proxy.
	Entrypoint string
	// User is the numeric "uid:gid" the image runs as by default.
	User string
	// Env is added to the image config (KEY=value).
	Env []string
}

// NonRoot is the conventional unprivileged user of distroless images.
const NonRoot = "65532:65532"

// epoch keeps layers and configs reproducible.
var epoch = time.Unix(0, 0).UTC()

// Build assembles the image described by spec.
func Build(spec Spec) (v1.Image, error) {
	if _, err := os.Stat(spec.Binary); err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return layerTar(spec.Binary, spec.Entrypoint)
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", spec.Ref, err)
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
	cfg.Architecture = runtime.GOARCH
	cfg.OS = "linux"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{spec.Entrypoint}
	cfg.Config.User = spec.User
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = append([]string{"PATH=/", "HOME=/tmp"}, spec.Env...)
	return mutate.ConfigFile(img, cfg)
}

// layerTar streams a tar with /tmp and the binary, so large binaries are never
// held in memory twice.
func layerTar(binary, entrypoint string) (io.ReadCloser, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		tw := tar.NewWriter(pw)
		err := writeEntries(tw, f, st.Size(), path.Clean("/" + entrypoint)[1:])
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

func writeEntries(tw *tar.Writer, bin io.Reader, size int64, name string) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return err
	}
	if dir := path.Dir(name); dir != "." {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: size, ModTime: epoch}); err != nil {
		return err
	}
	_, err := io.Copy(tw, bin)
	return err
}
