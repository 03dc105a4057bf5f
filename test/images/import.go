package images

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// KubernetesNamespace is the containerd namespace the CRI plugin (and so the
// kubelet) reads images from.
const KubernetesNamespace = "k8s.io"

// Import loads an OCI archive into the containerd listening on socket, in the
// namespace the kubelet uses. It is bounded by timeout.
func Import(ctx context.Context, socket, archive string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", "--address", socket, "--namespace", KubernetesNamespace,
		"images", "import", "--no-unpack=false", archive)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", archive, err, out)
	}
	return nil
}
