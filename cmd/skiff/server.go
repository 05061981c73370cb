package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/go-logr/zapr"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/skiffhq/skiff/apiserver"
	"github.com/skiffhq/skiff/controllers"
	"github.com/skiffhq/skiff/internal/logging"
)

// components are the parts of `skiff server` that --disable can turn off.
var components = []string{"agent", "controllers"}

func serverCommand() *cobra.Command {
	var (
		opts        apiserver.Options
		etcdServers string
		disable     []string
		verbosity   int
		ctrlOpts    controllers.Options
		agentOpts   = agentOptions{nodes: 1, leaseSeconds: 40}
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API server on etcd, controllers, scheduler (and a node agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, d := range disable {
				if !slices.Contains(components, d) {
					return fmt.Errorf("--disable %s: unknown component (known: %s)", d, strings.Join(components, ", "))
				}
			}
			if etcdServers != "" {
				opts.EtcdServers = strings.Split(etcdServers, ",")
			}
			// A server's live heap is mostly long-lived API machinery; collecting at 50% growth instead
			// of 100% keeps its footprint small at no measurable cost in throughput. GOGC still wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(50)
			}
			logger, err := logging.New(verbosity)
			if err != nil {
				return err
			}
			defer logger.Sync()
			opts.Logger = logger
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			server, err := apiserver.New(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "skiff API server on https://%s\nkubeconfig: %s\n", server.Address, server.KubeconfigPath)
			group, ctx := errgroup.WithContext(ctx)
			group.Go(func() error { return server.Run(ctx) })
			if !slices.Contains(disable, "controllers") {
				ctrlOpts.Logger = zapr.NewLogger(logger.Named("controllers"))
				ctrl.SetLogger(ctrlOpts.Logger)
				// Servers sharing an etcd elect one of them to run the controllers. The identity is kept in
				// the data dir, so a restarted server takes its Lease back at once.
				id, err := serverIdentity(opts.DataDir)
				if err != nil {
					return err
				}
				ctrlOpts.LeaderElection, ctrlOpts.LeaderElectionIdentity = true, id
				group.Go(func() error {
					if err := server.WaitReady(ctx); err != nil {
						return err
					}
					return controllers.Run(ctx, server.Loopback, ctrlOpts)
				})
			}
			if !slices.Contains(disable, "agent") {
				// The server's own machine is a node: its agent joins over loopback with the join token,
				// and keeps its images and pods in the server's data dir (so `skiff image import
				// --data-dir` with the server's dir feeds it).
				_, port, err := net.SplitHostPort(server.Address)
				if err != nil {
					return err
				}
				agentOpts.server = "https://" + net.JoinHostPort("127.0.0.1", port)
				agentOpts.tokenFile = server.NodeTokenPath
				agentOpts.dataDir = opts.DataDir
				group.Go(func() error {
					if err := server.WaitReady(ctx); err != nil {
						return err
					}
					return runAgentWith(ctx, cmd.OutOrStdout(), agentOpts, logger.Named("node"))
				})
			}
			return group.Wait()
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", defaultDataDir(), "directory of the cluster's state: etcd data, certificates, kubeconfig")
	f.StringVar(&opts.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	f.IntVar(&opts.HTTPSPort, "https-port", 6443, "port the API server listens on")
	f.StringVar(&opts.AdvertiseAddress, "advertise-address", "", "address the kubernetes Service points at (default: this machine's first IPv4 address)")
	f.StringVar(&etcdServers, "etcd-servers", "", "comma-separated URLs of an external etcd (default: embedded etcd)")
	f.StringVar(&opts.EtcdCAFile, "etcd-cafile", "", "CA bundle of the external etcd")
	f.StringVar(&opts.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd")
	f.StringVar(&opts.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd")
	f.StringVar(&opts.ServiceCIDR, "service-cidr", "10.43.0.0/16", "range of Service ClusterIPs")
	f.StringVar(&opts.ServiceNodePortRange, "service-node-port-range", "30000-32767", "range of NodePorts")
	f.StringVar(&opts.TokenAuthFile, "token-auth-file", "", "static bearer tokens, CSV: token,user,uid,\"group1,group2\"")
	f.StringSliceVar(&disable, "disable", nil, "components not to run: "+strings.Join(components, ","))
	f.IntVarP(&verbosity, "v", "v", 0, "log verbosity")
	f.StringVar(&agentOpts.nodeName, "node-name", defaultNodeName(), "name of this machine's node")
	f.StringVar(&agentOpts.nodeIP, "node-ip", "", "address of this machine's node (default: its first non-loopback IPv4 address)")
	f.StringVar(&agentOpts.shim, "shim", "", "path of skiff-shim (default: next to skiff, else on PATH)")
	f.StringSliceVar(&agentOpts.insecureRegistries, "insecure-registry", nil, "registries (host[:port]) the node pulls from over plain HTTP")
	addControllerFlags(cmd, &ctrlOpts)
	return cmd
}

// serverIdentity is this server's name among the servers of a cluster: the hostname and an id made once
// and kept in the data dir.
func serverIdentity(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server-id")
	id, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		id = []byte(uuid.NewString())
		err = os.WriteFile(path, id, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("server identity: %w", err)
	}
	host, _ := os.Hostname()
	return host + "_" + strings.TrimSpace(string(id)), nil
}

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/skiff"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return home + "/.skiff"
	}
	return ".skiff"
}
