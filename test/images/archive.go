package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// containerdNameAnnotation is how containerd's importer learns an image's name
// from an OCI index entry.
const containerdNameAnnotation = "io.containerd.image.name"

// WriteArchive writes the images as one OCI image-layout tarball at file.
func WriteArchive(file string, imgs map[string]v1.Image) error {
	dir, err := os.MkdirTemp(filepath.Dir(file), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	for ref, img := range imgs {
		err := p.AppendImage(img, layout.WithPlatform(platform), layout.WithAnnotations(map[string]string{
			containerdNameAnnotation:            ref,
			"org.opencontainers.image.ref.name": ref,
		}))
		if err != nil {
			return fmt.Errorf("layout %s: %w", ref, err)
		}
	}
	return tarDir(dir, file)
}

// tarDir packs dir's contents (relative names) into file, atomically.
func tarDir(dir, file string) error {
	tmp := file + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if walkErr == nil {
		walkErr = tw.Close()
	}
	if cerr := out.Close(); walkErr == nil {
		walkErr = cerr
	}
	if walkErr != nil {
		os.Remove(tmp)
		return walkErr
	}
	return os.Rename(tmp, file)
}
