// Command bundlegen writes meshkeeper's OLM bundle (bundle/, bundle.Dockerfile)
// and file-based catalog (catalog/) from config/manifests, or with -check
// reports which of them are stale.
//
//	go run ./cmd/bundlegen -root ../.. [-version 0.1.0] [-check]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/meshkeeper/meshkeeper/test/olm/bundlegen"
)

func main() {
	root := flag.String("root", "../..", "root of the meshkeeper checkout")
	version := flag.String("version", "", "operator version (default: VERSION of the root Makefile)")
	only := flag.String("only", "", "write only 'bundle' (bundle/, bundle.Dockerfile) or 'catalog' (catalog/); default both")
	check := flag.Bool("check", false, "write nothing; fail when the checked-in files are stale")
	flag.Parse()
	if err := run(*root, *version, *only, *check); err != nil {
		fmt.Fprintln(os.Stderr, "bundlegen:", err)
		os.Exit(1)
	}
}

func run(root, version, only string, check bool) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if version == "" {
		if version, err = bundlegen.MakefileVersion(root); err != nil {
			return err
		}
	}
	r, err := bundlegen.Render(root, version)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	for p, data := range r.Files {
		inCatalog := strings.HasPrefix(p, bundlegen.CatalogRoot+"/")
		if only == "" || (only == "catalog") == inCatalog {
			files[p] = data
		}
	}
	if check {
		stale, err := bundlegen.Diff(root, files)
		if err != nil {
			return err
		}
		if len(stale) > 0 {
			return fmt.Errorf("stale, run 'make bundle catalog' and commit:\n  %s", strings.Join(stale, "\n  "))
		}
		fmt.Printf("%s: %d files up to date\n", r.Bundle.Name, len(files))
		return nil
	}
	if err := bundlegen.Write(root, files); err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	fmt.Printf("%s (image %s, bundle %s):\n  %s\n", r.Bundle.Name, r.Options.Image, r.Options.BundleImage, strings.Join(paths, "\n  "))
	return nil
}
