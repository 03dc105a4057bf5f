package krew

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"
)

// epoch is every archive entry's time, so the same binary gives the same
// archive and digest (a rebuild of a release changes nothing).
var epoch = time.Unix(0, 0).UTC()

// Pack writes a tar.gz at out holding bin (as kubectl-meshkeeper, mode 0755)
// and license (as LICENSE, 0644), and returns its sha256 in hex.
func Pack(out, bin, license string) (string, error) {
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	err = errors.Join(addFile(tw, bin, BinName, 0o755), addFile(tw, license, LicenseName, 0o644), tw.Close(), gz.Close(), f.Close())
	if err != nil {
		_ = os.Remove(out)
		return "", fmt.Errorf("pack %s: %w", out, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func addFile(tw *tar.Writer, src, name string, mode int64) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = tw.Write(data)
	return err
}

// Verify checks a written manifest against the archives in dir, as krew
// does on install: each platform's archive (named by its URI) must have the
// manifest's sha256 and hold the files it installs, the binary executable.
func Verify(manifest, dir string) error {
	data, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	var p Plugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return fmt.Errorf("%s: %w", manifest, err)
	}
	if len(p.Spec.Platforms) == 0 {
		return fmt.Errorf("%s: no platforms", manifest)
	}
	for _, pl := range p.Spec.Platforms {
		if err := verifyPlatform(pl, dir); err != nil {
			return fmt.Errorf("%s: %s/%s: %w", manifest, pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"], err)
		}
	}
	return nil
}

func verifyPlatform(pl Platform, dir string) error {
	file := filepath.Join(dir, path.Base(pl.URI))
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != pl.Sha256 {
		return fmt.Errorf("%s has sha256 %s, the manifest says %s", file, got, pl.Sha256)
	}
	modes, err := entries(file)
	if err != nil {
		return err
	}
	for _, f := range pl.Files {
		if _, ok := modes[f.From]; !ok {
			return fmt.Errorf("%s holds no %s", file, f.From)
		}
	}
	if modes[pl.Bin]&0o111 == 0 {
		return fmt.Errorf("%s: %s is missing or not executable", file, pl.Bin)
	}
	return nil
}

// entries lists a tar.gz's regular files with their modes.
func entries(file string) (map[string]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	tr := tar.NewReader(gz)
	out := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			out[hdr.Name] = hdr.Mode
		}
	}
}
