package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/workload"
)

// Scheme knows the Kubernetes types and the MeshInstallation.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = meshv1.AddToScheme(s)
	return s
}

// ExitError is a finished command that must exit non-zero (a failed check)
// after printing its own output.
type ExitError struct{ Msg string }

func (e *ExitError) Error() string { return e.Msg }

// App is what the commands run against; main builds it from the kubeconfig,
// tests from fakes.
type App struct {
	Out      io.Writer
	Client   client.Client
	Gatherer *Gatherer
	Now      func() time.Time
	// Sleep waits for d or until ctx ends (stat's window).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Options are the flags every command shares.
type Options struct {
	Name   string
	Output string
}

func (o *Options) validate() error {
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("--output %q: want text or json", o.Output)
	}
	return nil
}

// NewCommand builds the command tree. app is called once a command runs, so
// --help and flag errors work without a cluster.
func NewCommand(app func() (*App, error), bind func(*cobra.Command)) *cobra.Command {
	opts := &Options{}
	root := &cobra.Command{
		Use:           "kubectl-meshkeeper",
		Short:         "Check, inspect and operate a meshkeeper mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.validate()
		},
	}
	root.PersistentFlags().StringVar(&opts.Name, "name", "", "MeshInstallation name (default: the only one)")
	root.PersistentFlags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	if bind != nil {
		bind(root)
	}
	root.AddCommand(checkCmd(app, opts), statusCmd(app, opts), statCmd(app, opts), upgradeCmd(app, opts), trustCmd(app, opts))
	return root
}

func checkCmd(app func() (*App, error), opts *Options) *cobra.Command {
	var pre bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the mesh (or, with --pre, whether the cluster can take it); exits 1 naming what failed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := app()
			if err != nil {
				return err
			}
			var results []Result
			if pre {
				f, err := a.Gatherer.GatherPre(cmd.Context(), opts.Name)
				if err != nil {
					return err
				}
				results = PreChecks(f)
			} else {
				f, err := a.Gatherer.Gather(cmd.Context(), opts.Name)
				if err != nil {
					return err
				}
				results = Checks(f)
			}
			if opts.Output == "json" {
				failed := Failed(results)
				if failed == nil {
					failed = []string{}
				}
				if err := WriteJSON(a.Out, CheckReport{Results: results, Failed: failed}); err != nil {
					return err
				}
			} else {
				RenderChecks(a.Out, results)
			}
			if failed := Failed(results); len(failed) > 0 {
				return &ExitError{Msg: "check failed: " + strings.Join(failed, ", ")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&pre, "pre", false, "check the cluster before installing: version, permissions, Pod Security, CNI")
	return cmd
}

// installation reads the installation the command acts on; none is an error.
func installation(ctx context.Context, a *App, opts *Options) (*meshv1.MeshInstallation, error) {
	mi, err := a.Gatherer.Installation(ctx, opts.Name)
	if err == nil && mi == nil {
		err = errors.New("no MeshInstallation exists")
	}
	return mi, err
}

func statusCmd(app func() (*App, error), opts *Options) *cobra.Command {
	return viewCmd(app, opts, "status", "The installation at a glance: conditions, versions, control plane, data plane, trust, upgrade",
		func(mi *meshv1.MeshInstallation) any {
			return StatusView{Name: mi.Name, Version: mi.Spec.Version, Status: mi.Status}
		},
		func(a *App, mi *meshv1.MeshInstallation) error { RenderStatus(a.Out, mi, a.Now()); return nil })
}

// withInstallation runs do with the app and the installation it read.
func withInstallation(app func() (*App, error), opts *Options, do func(cmd *cobra.Command, a *App, mi *meshv1.MeshInstallation) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		a, err := app()
		if err != nil {
			return err
		}
		mi, err := installation(cmd.Context(), a, opts)
		if err != nil {
			return err
		}
		return do(cmd, a, mi)
	}
}

// viewCmd shows one view of the installation: JSON with -o json, text otherwise.
func viewCmd(app func() (*App, error), opts *Options, use, short string, asJSON func(*meshv1.MeshInstallation) any, render func(*App, *meshv1.MeshInstallation) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: withInstallation(app, opts, func(_ *cobra.Command, a *App, mi *meshv1.MeshInstallation) error {
			if opts.Output == "json" {
				return WriteJSON(a.Out, asJSON(mi))
			}
			return render(a, mi)
		}),
	}
}

// maxWindow bounds --window: stat holds the terminal that long.
const maxWindow = 10 * time.Minute

func statCmd(app func() (*App, error), opts *Options) *cobra.Command {
	var by string
	var window time.Duration
	cmd := &cobra.Command{
		Use:   "stat [namespace]",
		Short: "Success rate, RPS and latency per workload (and per destination) from two scrapes --window apart",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by != "deploy" && by != "pod" {
				return fmt.Errorf("--by %q: want deploy or pod", by)
			}
			if window <= 0 || window > maxWindow {
				return fmt.Errorf("--window %s: want more than 0 and at most %s", window, maxWindow)
			}
			a, err := app()
			if err != nil {
				return err
			}
			ns := ""
			if len(args) == 1 {
				ns = args[0]
			}
			table, err := a.Stat(cmd.Context(), ns, by, window)
			if err != nil {
				return err
			}
			if opts.Output == "json" {
				return WriteJSON(a.Out, table)
			}
			RenderStat(a.Out, table)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "deploy", "group by deploy (the owning workload) or pod")
	cmd.Flags().DurationVar(&window, "window", 10*time.Second, "time between the two scrapes")
	return cmd
}

// Stat scrapes the meshed pods of ns ("" for all) twice, window apart.
func (a *App) Stat(ctx context.Context, ns, by string, window time.Duration) (StatTable, error) {
	var list corev1.PodList
	if err := a.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return StatTable{}, fmt.Errorf("list pods: %w", err)
	}
	pods := meshedRunning(list.Items)
	if len(pods) == 0 {
		where := "the cluster"
		if ns != "" {
			where = "namespace " + ns
		}
		return StatTable{}, fmt.Errorf("no running meshed pod in %s", where)
	}
	start := a.Now()
	before := ScrapeAll(ctx, a.Gatherer.Metrics, pods, a.Gatherer.Parallel)
	if err := a.Sleep(ctx, window); err != nil {
		return StatTable{}, err
	}
	after := ScrapeAll(ctx, a.Gatherer.Metrics, pods, a.Gatherer.Parallel)
	// The measured time between the scrapes, not the asked window: the first
	// scrape of many pods takes time too.
	elapsed := a.Now().Sub(start)
	group := func(p *corev1.Pod) string { return "pod/" + p.Name }
	if by == "deploy" {
		owners := workload.ReplicaSetOwners(ctx, a.Client)
		group = func(p *corev1.Pod) string {
			key := workload.OwnerKey(p, owners)
			if key == "" {
				return "pod/" + p.Name
			}
			kind, _, name, _ := workload.ParseKey(key)
			return kindShort(kind) + "/" + name
		}
	}
	return ComputeStat(pods, before, after, elapsed, group), nil
}

func upgradeCmd(app func() (*App, error), opts *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "upgrade", Short: "Show, approve, pause or resume a mesh upgrade"}
	cmd.AddCommand(viewCmd(app, opts, "plan", "Show the upgrade's plan: control plane, then waves of workloads",
		func(mi *meshv1.MeshInstallation) any { return mi.Status.Upgrade },
		func(a *App, mi *meshv1.MeshInstallation) error {
			_, err := io.WriteString(a.Out, UpgradePlan(mi))
			return err
		}))
	cmd.AddCommand(
		mutateCmd(app, opts, "approve", "Approve a Manual upgrade to spec.version (sets spec.upgrade.approvedVersion)",
			func(mi *meshv1.MeshInstallation, _ time.Time) (string, error) { return Approve(mi) }),
		mutateCmd(app, opts, "pause", "Pause the upgrade between steps (spec.upgrade.paused=true)",
			func(mi *meshv1.MeshInstallation, _ time.Time) (string, error) { return SetUpgradePaused(mi, true) }),
		mutateCmd(app, opts, "resume", "Resume a paused upgrade (spec.upgrade.paused=false)",
			func(mi *meshv1.MeshInstallation, _ time.Time) (string, error) { return SetUpgradePaused(mi, false) }),
	)
	return cmd
}

func trustCmd(app func() (*App, error), opts *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "trust", Short: "Show the trust anchor and issuer, or rotate the anchor"}
	cmd.AddCommand(viewCmd(app, opts, "status", "Anchor, issuer, bundle and any rotation with its lagging proxies",
		func(mi *meshv1.MeshInstallation) any { return mi.Status.Trust },
		func(a *App, mi *meshv1.MeshInstallation) error { RenderTrust(a.Out, mi, a.Now()); return nil }))
	cmd.AddCommand(mutateCmd(app, opts, "rotate", "Rotate the trust anchor now (annotation "+meshv1.RotateAnchorAnnotation+")", RequestRotation))
	return cmd
}

// mutateCmd reads the installation, lets change decide on a copy, and sends
// only the difference as a merge patch guarded by the resourceVersion read,
// so a concurrent change by the operator or a user is refused, not overwritten.
func mutateCmd(app func() (*App, error), opts *Options, use, short string, change func(*meshv1.MeshInstallation, time.Time) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: withInstallation(app, opts, func(cmd *cobra.Command, a *App, mi *meshv1.MeshInstallation) error {
			orig := mi.DeepCopy()
			msg, err := change(mi, a.Now())
			if err != nil {
				return fmt.Errorf("%s: %w", mi.Name, err)
			}
			if err := a.Client.Patch(cmd.Context(), mi, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
				return fmt.Errorf("patch %s: %w", mi.Name, err)
			}
			if opts.Output == "json" {
				return WriteJSON(a.Out, map[string]string{"installation": mi.Name, "result": msg})
			}
			_, err = fmt.Fprintf(a.Out, "%s: %s\n", mi.Name, msg)
			return err
		}),
	}
}
