package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// Chart is a chart loaded from an fs.FS directory (the operator embeds charts
// with go:embed). It is immutable once loaded and safe to share.
type Chart struct {
	chart  *chart.Chart
	digest string
}

// LoadChart loads the chart in directory dir of fsys: every regular file under
// dir (Chart.yaml, values.yaml, templates/, templates/_helpers.tpl, charts/...)
// is handed to Helm's loader. .helmignore is not honoured.
func LoadChart(fsys fs.FS, dir string) (*Chart, error) {
	dir = path.Clean(dir)
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := p
		if dir != "." {
			name = strings.TrimPrefix(p, dir+"/")
		}
		files = append(files, &loader.BufferedFile{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading chart %q: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reading chart %q: no files", dir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading chart %q: %w", dir, err)
	}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("validating chart %q: %w", dir, err)
	}
	return &Chart{chart: ch, digest: digestFiles(files)}, nil
}

// digestFiles hashes names and contents of files, which must be sorted by
// name. Lengths are included so that no two file sets hash alike by shifting
// bytes between names and contents.
func digestFiles(files []*loader.BufferedFile) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(strconv.Itoa(len(f.Name))))
		h.Write([]byte{0})
		h.Write([]byte(f.Name))
		h.Write([]byte(strconv.Itoa(len(f.Data))))
		h.Write([]byte{0})
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Name is the chart's name (Chart.yaml).
func (c *Chart) Name() string { return c.chart.Name() }

// Version is the chart's version (Chart.yaml).
func (c *Chart) Version() string { return c.chart.Metadata.Version }

// Digest is the sha256 (hex) of the chart's files, names and contents, in
// sorted order: stable across loads, different as soon as any file changes.
func (c *Chart) Digest() string { return c.digest }

// helmChart returns a shallow copy of the chart for one Helm action: Helm
// mutates a few top-level fields while processing dependencies. The
// templates and files are shared (read-only).
func (c *Chart) helmChart() *chart.Chart {
	cp := *c.chart
	return &cp
}
