package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshkeeper/meshkeeper/test/images"
)

// Images the cluster itself needs. They are built here and never pulled; the
// names say so.
const (
	PauseImage   = "meshkeeper.local/pause:1"
	CoreDNSImage = "meshkeeper.local/coredns:local"
)

// toolsScript builds (once) and locates etcd, Kubernetes and CoreDNS.
func toolsScript(repo string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repo, "test/tools/build.sh")}, args...)...)
	cmd.Stderr = os.Stderr // the script prints its own progress
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("test/tools/build.sh %v: %w", args, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// importSystemImages builds the pause and CoreDNS images and loads them into
// the cluster's containerd.
func importSystemImages(ctx context.Context, o Options, p Paths, corednsBin string) error {
	pauseBin := filepath.Join(p.Bin(), "pause")
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := images.GoBuild(bctx, o.RepoDir, pauseBin, "./test/images/pause", "", ""); err != nil {
		return err
	}
	imgs := map[string]v1.Image{}
	for _, s := range []images.Spec{
		{Ref: PauseImage, Binary: pauseBin, Entrypoint: "/pause", User: "65535:65535"},
		{Ref: CoreDNSImage, Binary: corednsBin, Entrypoint: "/coredns", User: images.NonRoot},
	} {
		img, err := images.Build(s)
		if err != nil {
			return err
		}
		imgs[s.Ref] = img
	}
	archive := filepath.Join(p.Images(), "system.tar")
	if err := images.WriteArchive(archive, imgs); err != nil {
		return err
	}
	return images.Import(ctx, p.ContainerdSocket(), archive, 2*time.Minute)
}
