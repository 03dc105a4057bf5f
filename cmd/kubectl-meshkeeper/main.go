// Command kubectl-meshkeeper is the day-2 tool of a meshkeeper mesh, run as a
// kubectl plugin (`kubectl meshkeeper check`). It uses the user's kubeconfig
// (the usual kubectl flags) and reads proxies' metrics through the API
// server's pods/proxy subresource. The logic is in internal/kubectlplugin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/kubectlplugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	flags := genericclioptions.NewConfigFlags(true)
	app := func() (*kubectlplugin.App, error) { return newApp(flags) }
	cmd := kubectlplugin.NewCommand(app, func(root *cobra.Command) { flags.AddFlags(root.PersistentFlags()) })
	err := cmd.ExecuteContext(ctx)
	var exit *kubectlplugin.ExitError
	switch {
	case errors.As(err, &exit):
		fmt.Fprintln(os.Stderr, exit.Msg)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newApp(flags *genericclioptions.ConfigFlags) (*kubectlplugin.App, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second // one slow request must not hang a check
	}
	c, err := client.New(cfg, client.Options{Scheme: kubectlplugin.Scheme()})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kubectlplugin.App{
		Out:    os.Stdout,
		Client: c,
		Gatherer: &kubectlplugin.Gatherer{
			Client: c, Metrics: kubectlplugin.PodProxy{Client: cs},
			ServerVersion: cs.Discovery().ServerVersion, Now: time.Now, Parallel: 8,
		},
		Now:   time.Now,
		Sleep: sleep,
	}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
