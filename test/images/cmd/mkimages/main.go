// Command mkimages builds every meshkeeper image from this checkout, without a
// container daemon, into one OCI archive and (when the local cluster runs)
// imports it into the cluster's containerd:
//
//   - the manager image (-manager-img, from ./cmd/manager),
//   - for every mesh release in internal/operator/versions, the control-plane, proxy and
//     proxy-init images named by Release.Images, stamped with its ProxyVersion
//     (the proxies with test-only fault injection when -test-faults),
//   - the sample app image (from ./test/apps/sampleapp).
//
// A program that does not build yet is skipped with a message, unless -strict.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshkeeper/meshkeeper/test/cluster"
	"github.com/meshkeeper/meshkeeper/test/images"
)

func main() {
	managerImg := flag.String("manager-img", "ghcr.io/meshkeeper/manager:dev", "manager image reference")
	managerVersion := flag.String("version", "dev", "version stamped into the manager binary")
	registry := flag.String("registry", "", "registry prefix for mesh images (default versions.DefaultRegistry)")
	out := flag.String("out", "bin/images", "directory for binaries and the archive")
	workDir := flag.String("cluster-dir", "", "local cluster work dir (default $MESHKEEPER_CLUSTER_DIR or "+cluster.DefaultWorkDir+")")
	noImport := flag.Bool("no-import", false, "only write the archive")
	strict := flag.Bool("strict", false, "fail when any program does not build")
	faults := flag.Bool("test-faults", false, "build the proxies with their test-only fault injection (tag "+images.FaultsTag+"), as the e2e suite needs")
	flag.Parse()

	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "[images] "+format+"\n", args...) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	start := time.Now()
	plan := images.Plan(*managerImg, *managerVersion, *registry)
	if *faults {
		plan = images.WithProxyTags(plan, images.FaultsTag)
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		fatal(err)
	}
	built, skipped, err := images.BuildAll(ctx, ".", outDir, plan, log)
	if err != nil {
		fatal(err)
	}
	if len(skipped) > 0 {
		log("SKIPPED (does not build yet): %v", skipped)
		if *strict {
			fatal(fmt.Errorf("%d image(s) skipped in -strict mode", len(skipped)))
		}
	}
	archive := filepath.Join(outDir, "meshkeeper-images.tar")
	if err := images.WriteArchive(archive, built); err != nil {
		fatal(err)
	}
	log("wrote %d images to %s (%.1fs)", len(built), archive, time.Since(start).Seconds())
	for ref := range built {
		log("  %s", ref)
	}
	if *noImport {
		return
	}
	socket := cluster.Paths{Root: clusterDir(*workDir)}.ContainerdSocket()
	if _, err := os.Stat(socket); err != nil {
		log("no local cluster running (%s missing): not importing; run `make cluster-up` first", socket)
		return
	}
	if err := images.Import(ctx, socket, archive, 5*time.Minute); err != nil {
		fatal(err)
	}
	log("imported into the local cluster's containerd (%.1fs total)", time.Since(start).Seconds())
}

func clusterDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if d := os.Getenv("MESHKEEPER_CLUSTER_DIR"); d != "" {
		return d
	}
	return cluster.DefaultWorkDir
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "[images] error:", err)
	os.Exit(1)
}
