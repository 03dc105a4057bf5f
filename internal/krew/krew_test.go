package krew

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManifestRefusesBadInput(t *testing.T) {
	good := Archive{OS: "linux", Arch: "amd64", Name: ArchiveName("linux", "amd64"), Sha256: strings.Repeat("ab", 32)}
	for name, tc := range map[string]struct {
		version, url string
		archives     []Archive
		want         string
	}{
		"version without v":  {"0.1.0", "https://x", []Archive{good}, "semantic version"},
		"no url":             {"v0.1.0", "", []Archive{good}, "base URL"},
		"no archives":        {"v0.1.0", "https://x", nil, "no archives"},
		"placeholder digest": {"v0.1.0", "https://x", []Archive{{OS: "linux", Arch: "amd64", Name: "a", Sha256: "<sha256>"}}, "64 lowercase hex"},
		"upper-case digest":  {"v0.1.0", "https://x", []Archive{{OS: "linux", Arch: "amd64", Name: "a", Sha256: strings.Repeat("AB", 32)}}, "64 lowercase hex"},
		"duplicate platform": {"v0.1.0", "https://x", []Archive{good, good}, "two archives"},
		"no arch":            {"v0.1.0", "https://x", []Archive{{OS: "linux", Name: "a", Sha256: good.Sha256}}, "no os or arch"},
	} {
		if _, err := Manifest(tc.version, tc.url, tc.archives); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}

// build packs fake binaries for two platforms and writes their manifest.
func build(t *testing.T) (dir, manifest string, archives []Archive) {
	t.Helper()
	dir = t.TempDir()
	license := filepath.Join(dir, "LICENSE")
	if err := os.WriteFile(license, []byte("license text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pl := range [][2]string{{"linux", "amd64"}, {"darwin", "arm64"}} {
		bin := filepath.Join(dir, pl[0]+"_"+pl[1])
		if err := os.WriteFile(bin, []byte("binary for "+pl[0]+"/"+pl[1]), 0o755); err != nil {
			t.Fatal(err)
		}
		a := Archive{OS: pl[0], Arch: pl[1], Name: ArchiveName(pl[0], pl[1])}
		var err error
		if a.Sha256, err = Pack(filepath.Join(dir, a.Name), bin, license); err != nil {
			t.Fatal(err)
		}
		archives = append(archives, a)
	}
	p, err := Manifest("v0.1.0", "https://example.invalid/v0.1.0", archives)
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	manifest = filepath.Join(dir, "meshkeeper.yaml")
	if err := os.WriteFile(manifest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, manifest, archives
}

func TestPackedArchivesVerify(t *testing.T) {
	dir, manifest, archives := build(t)
	if err := Verify(manifest, dir); err != nil {
		t.Fatal(err)
	}
	for _, a := range archives {
		data, err := os.ReadFile(filepath.Join(dir, a.Name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != a.Sha256 {
			t.Errorf("Pack returned sha256 %s for %s, the file's is %x", a.Sha256, a.Name, sum)
		}
	}
	text, _ := os.ReadFile(manifest)
	for _, want := range []string{"uri: https://example.invalid/v0.1.0/kubectl-meshkeeper_darwin_arm64.tar.gz", "sha256: " + archives[1].Sha256, "os: darwin", "arch: arm64", "bin: kubectl-meshkeeper"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("manifest lacks %q:\n%s", want, text)
		}
	}
}

func TestPackIsReproducible(t *testing.T) {
	_, _, first := build(t)
	_, _, second := build(t)
	if first[0].Sha256 != second[0].Sha256 {
		t.Errorf("the same files packed twice gave %s and %s", first[0].Sha256, second[0].Sha256)
	}
}

func TestVerifyCatchesATamperedArchive(t *testing.T) {
	dir, manifest, archives := build(t)
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("another binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(filepath.Join(dir, archives[0].Name), other, other); err != nil {
		t.Fatal(err)
	}
	if err := Verify(manifest, dir); err == nil || !strings.Contains(err.Error(), "the manifest says "+archives[0].Sha256) {
		t.Fatalf("Verify of a re-packed archive: %v, want a digest mismatch", err)
	}
}

func TestVerifyWantsAnExecutableBinary(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A tar holding only LICENSE, under a manifest that says it holds the binary.
	sum, err := packOnly(filepath.Join(dir, ArchiveName("linux", "amd64")), file)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := Manifest("v0.1.0", "https://x", []Archive{{OS: "linux", Arch: "amd64", Name: ArchiveName("linux", "amd64"), Sha256: sum}})
	data, _ := p.Marshal()
	manifest := filepath.Join(dir, "m.yaml")
	_ = os.WriteFile(manifest, data, 0o644)
	if err := Verify(manifest, dir); err == nil || !strings.Contains(err.Error(), "holds no kubectl-meshkeeper") {
		t.Fatalf("Verify of an archive without the binary: %v", err)
	}
}

// packOnly writes a tar.gz holding only LICENSE.
func packOnly(out, license string) (string, error) {
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	if err := errors.Join(addFile(tw, license, LicenseName, 0o644), tw.Close(), gz.Close(), f.Close()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
