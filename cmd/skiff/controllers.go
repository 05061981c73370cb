package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/zapr"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/skiffhq/skiff/controllers"
	"github.com/skiffhq/skiff/internal/logging"
)

func controllersCommand() *cobra.Command {
	var (
		kubeconfig string
		opts       controllers.Options
		verbosity  int
	)
	cmd := &cobra.Command{
		Use:   "controllers",
		Short: "Run the controllers and the scheduler against a cluster, with leader election",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				return fmt.Errorf("--kubeconfig is required")
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			// The scheduler alone binds a thousand pods a second; client-go's default 5 QPS would throttle it.
			cfg.QPS, cfg.Burst = 2000, 4000
			logger, err := logging.New(verbosity)
			if err != nil {
				return err
			}
			defer logger.Sync()
			opts.Logger = zapr.NewLogger(logger)
			ctrl.SetLogger(opts.Logger)
			host, _ := os.Hostname()
			opts.LeaderElection = true
			opts.LeaderElectionIdentity = host + "_" + uuid.NewString()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return controllers.Run(ctx, cfg, opts)
		},
	}
	addControllerFlags(cmd, &opts)
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to control")
	f.IntVarP(&verbosity, "v", "v", 0, "log verbosity")
	return cmd
}

// addControllerFlags adds the flags the controllers take, shared by `skiff server` and `skiff controllers`.
func addControllerFlags(cmd *cobra.Command, opts *controllers.Options) {
	f := cmd.Flags()
	f.StringVar(&opts.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "range of pod IPs; each node gets a slice of it")
	f.IntVar(&opts.NodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of each node's pod CIDR")
	f.DurationVar(&opts.NodeMonitorGracePeriod, "node-monitor-grace-period", 0, "how long a node may miss heartbeats before it is NotReady (default 40s)")
	f.Int64Var(&opts.DefaultTolerationSeconds, "default-not-ready-toleration-seconds", 300, "how long pods stay on a NotReady or unreachable node before they are evicted")
	f.StringSliceVar(&opts.Controllers, "controllers", []string{"*"}, "controllers to run: '*' is all of them, 'foo' the one named foo, '-foo' all but foo; names: "+strings.Join(controllers.Names(), ","))
	f.StringSliceVar(&opts.Disabled, "disable-controllers", nil, "controllers not to run, by name: "+strings.Join(controllers.Names(), ","))
}
