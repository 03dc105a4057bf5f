package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

// SampleAppImage is the demo and e2e workload.
const SampleAppImage = "meshkeeper.local/sampleapp:dev"

const proxyPackage = "./cmd/proxy"

// versionVar is the link-time version variable every binary carries.
const versionVar = "github.com/meshkeeper/meshkeeper/internal/buildinfo.Version"

// Item is one image to build: a Go main package at a version.
type Item struct {
	Ref     string
	Package string // relative to the repo, e.g. ./cmd/proxy
	Version string
	User    string
	// Tags are Go build tags (go build -tags).
	Tags string
}

// FaultsTag builds the proxy with its test-only fault injection, which the
// e2e suite uses to make one mesh release faulty; production builds omit it.
const FaultsTag = "meshkeeper_faults"

// WithProxyTags returns the plan with tags added to every proxy build.
func WithProxyTags(items []Item, tags string) []Item {
	out := slices.Clone(items)
	for i := range out {
		if out[i].Package == proxyPackage {
			out[i].Tags = tags
		}
	}
	return out
}

// Plan lists every image of this checkout: the manager, the mesh images of
// every shipped release (with its CNI plugin's when it ships one), and the
// sample app.
func Plan(managerImg, managerVersion, registry string) []Item {
	items := []Item{{Ref: managerImg, Package: "./cmd/manager", Version: managerVersion, User: NonRoot}}
	for _, v := range versions.Supported() {
		r, err := versions.Lookup(v)
		if err != nil {
			panic(err) // Supported and Lookup read the same table
		}
		cp, proxy, proxyInit := r.Images(registry)
		items = append(items,
			Item{Ref: cp, Package: "./cmd/controlplane", Version: r.ProxyVersion, User: NonRoot},
			Item{Ref: proxy, Package: proxyPackage, Version: r.ProxyVersion,
				User: strconv.Itoa(contract.ProxyUID) + ":" + strconv.Itoa(contract.ProxyUID)},
			// proxy-init programs the pod's netfilter rules: it needs root with NET_ADMIN.
			Item{Ref: proxyInit, Package: "./cmd/proxy-init", Version: r.ProxyVersion, User: "0:0"},
		)
		if r.CNIPlugin {
			// The CNI plugin and its node agent (one binary): the agent
			// writes the node's root-owned CNI dirs, so it runs as root.
			items = append(items, Item{Ref: r.CNIImage(registry), Package: "./cmd/meshkeeper-cni", Version: r.ProxyVersion, User: "0:0"})
		}
	}
	return append(items, Item{Ref: SampleAppImage, Package: "./test/apps/sampleapp", Version: managerVersion, User: NonRoot})
}

// BuildAll compiles each item's binary (static, trimmed, version stamped) into
// outDir and assembles its image. Items whose package fails to build are
// returned as skipped with the compiler's message logged.
func BuildAll(ctx context.Context, repo, outDir string, items []Item, log func(string, ...any)) (map[string]v1.Image, []string, error) {
	built := map[string]v1.Image{}
	var skipped []string
	for _, it := range items {
		name := filepath.Base(it.Package)
		bin := filepath.Join(outDir, "bin", it.Version, name)
		log("go build %s (version %s) -> %s", it.Package, it.Version, it.Ref)
		if err := GoBuild(ctx, repo, bin, it.Package, "-X "+versionVar+"="+it.Version, it.Tags); err != nil {
			log("skipping %s: %v", it.Ref, err)
			skipped = append(skipped, it.Ref)
			continue
		}
		img, err := Build(Spec{Ref: it.Ref, Binary: bin, Entrypoint: "/" + name, User: it.User})
		if err != nil {
			return nil, nil, err
		}
		built[it.Ref] = img
	}
	return built, skipped, nil
}

// GoBuild builds a static binary of pkg (relative to repo) with CGO off and
// -trimpath, the same settings as every other build so the cache is shared.
func GoBuild(ctx context.Context, repo, out, pkg, ldflags, tags string) error {
	args := []string{"build", "-trimpath", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
