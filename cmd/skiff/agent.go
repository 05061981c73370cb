package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffhq/skiff/internal/logging"
	"github.com/skiffhq/skiff/nodeagent"
	"github.com/skiffhq/skiff/nodeagent/join"
	"github.com/skiffhq/skiff/nodeagent/podnet"
	"github.com/skiffhq/skiff/nodeagent/runtime/simulated"
)

// agentOptions are the flags of `skiff agent`.
type agentOptions struct {
	server, token, tokenFile, kubeconfig string
	dataDir, nodeName, nodeIP            string
	simulate                             bool
	nodes                                int
	latency                              time.Duration
	verbosity                            int
	labels                               map[string]string
	leaseSeconds                         int
	shim                                 string
	insecureRegistries                   []string
}

func agentCommand() *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent: join a cluster and run the pods bound to this node",
		Long: `Run a node agent: register this machine as a node of a cluster, keep its status and heartbeat, and run
the pods bound to it.

Join with the server's URL and its join token (DATA/node-token on the server):

  skiff agent --server https://HOST:6443 --token-file node-token

or connect with a kubeconfig instead (--kubeconfig). --simulate runs simulated nodes, whose pods only
pretend to run; --nodes N runs N of them in one process, named NODE-NAME-0 ... NODE-NAME-(N-1) (just
NODE-NAME when N is 1), the same names at every start with the same flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "URL of the API server to join, https://HOST:PORT")
	f.StringVar(&o.token, "token", "", "join token of the cluster (the server's DATA/node-token)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the join token")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "connect with this kubeconfig instead of joining with a token")
	f.StringVar(&o.dataDir, "data-dir", defaultAgentDataDir(), "directory of the agent's state: its credentials")
	f.StringVar(&o.nodeName, "node-name", defaultNodeName(), "name of the node (with --nodes N, the prefix of the names)")
	f.StringVar(&o.nodeIP, "node-ip", "", "address of the node (default: this machine's first non-loopback IPv4 address)")
	f.BoolVar(&o.simulate, "simulate", false, "run simulated nodes: pods pretend to run (see package nodeagent/runtime/simulated)")
	f.IntVar(&o.nodes, "nodes", 1, "number of simulated nodes to run (with --simulate)")
	f.DurationVar(&o.latency, "simulate-latency", 0, "how long a simulated container takes to start")
	f.IntVar(&o.leaseSeconds, "node-lease-duration-seconds", 40, "duration of the nodes' Lease; it is renewed every quarter of it")
	f.StringToStringVar(&o.labels, "node-labels", nil, "labels to add to the node(s) at registration, key=value,...")
	f.StringVar(&o.shim, "shim", "", "path of skiff-shim (default: next to skiff, else on PATH)")
	f.StringSliceVar(&o.insecureRegistries, "insecure-registry", nil, "registries (host[:port]) to pull from over plain HTTP")
	f.IntVarP(&o.verbosity, "v", "v", 0, "log verbosity")
	return cmd
}

func runAgent(cmd *cobra.Command, o agentOptions) error {
	logger, err := logging.New(o.verbosity)
	if err != nil {
		return err
	}
	defer logger.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runAgentWith(ctx, cmd.OutOrStdout(), o, logger)
}

// runAgentWith runs the agent of o until ctx ends: `skiff agent`, and the agent `skiff server` runs for
// its own machine.
func runAgentWith(ctx context.Context, out io.Writer, o agentOptions, logger *zap.Logger) error {
	names, err := o.validate()
	if err != nil {
		return err
	}
	if o.nodeIP == "" {
		if o.nodeIP = firstIPv4(); o.nodeIP == "" {
			return errors.New("no non-loopback IPv4 address found on this machine: give one with --node-ip")
		}
	}
	cfg, err := o.clientConfig(ctx, logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// A node posts status and heartbeats, and every pod's status: kubelet's default is 50 QPS, burst 100,
	// per node.
	cfg.QPS, cfg.Burst = float32(50*len(names)), 100*len(names)
	nodeagent.LimitInFlight(cfg, nodeagent.DefaultMaxInFlight)
	cfg.UserAgent = "skiff-agent"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	agentCfg := nodeagent.Config{
		Client:        client,
		NodeNames:     names,
		NodeIP:        o.nodeIP,
		Labels:        o.labels,
		LeaseDuration: time.Duration(o.leaseSeconds) * time.Second,
		Logger:        zapr.NewLogger(logger.Named("agent")),
	}
	if o.simulate {
		agentCfg.Runtime = simulated.New(simulated.Options{Latency: o.latency})
		fmt.Fprintf(out, "skiff agent: %d simulated node(s) %s on %s\n", len(names), describeNames(names), cfg.Host)
	} else {
		local, err := openLocalRuntime(ctx, o.dataDir, o.shim, o.nodeIP, o.insecureRegistries, client, zapr.NewLogger(logger.Named("runtime")))
		if err != nil {
			return err
		}
		defer local.Close()
		agentCfg.Runtime, agentCfg.Capacity = local.runtime, local.capacity
		fmt.Fprintf(out, "skiff agent: node %s on %s\n", names[0], cfg.Host)
	}
	return nodeagent.Run(ctx, agentCfg)
}

// validate checks the flags and returns the names of the nodes to run.
func (o *agentOptions) validate() ([]string, error) {
	switch {
	case o.kubeconfig != "" && (o.server != "" || o.token != "" || o.tokenFile != ""):
		return nil, errors.New("give either --kubeconfig, or --server with --token or --token-file, not both")
	case o.kubeconfig == "" && o.server == "":
		return nil, errors.New("give --server with --token or --token-file, or --kubeconfig")
	case o.kubeconfig == "" && o.token == "" && o.tokenFile == "":
		return nil, errors.New("--server needs --token or --token-file")
	case o.token != "" && o.tokenFile != "":
		return nil, errors.New("give --token or --token-file, not both")
	case o.nodes < 1:
		return nil, fmt.Errorf("--nodes %d: at least one node", o.nodes)
	case o.nodes > 1 && !o.simulate:
		return nil, errors.New("--nodes runs simulated nodes: add --simulate")
	case o.leaseSeconds < 1:
		return nil, fmt.Errorf("--node-lease-duration-seconds %d: at least 1", o.leaseSeconds)
	case o.latency < 0:
		return nil, errors.New("--simulate-latency may not be negative")
	}
	if o.nodeIP != "" && net.ParseIP(o.nodeIP) == nil {
		return nil, fmt.Errorf("--node-ip %q is not an IP address", o.nodeIP)
	}
	names := simulatedNodeNames(o.nodeName, o.nodes)
	for _, n := range names {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return nil, fmt.Errorf("node name %q: %s", n, strings.Join(errs, "; "))
		}
	}
	return names, nil
}

// simulatedNodeNames are the names of n nodes called base: base itself for one, else base-0 ...
// base-(n-1), stable across restarts.
func simulatedNodeNames(base string, n int) []string {
	if n == 1 {
		return []string{base}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", base, i)
	}
	return names
}

// clientConfig is the agent's connection: the given kubeconfig, or credentials bootstrapped with the
// join token, waiting for a server that cannot answer yet.
func (o *agentOptions) clientConfig(ctx context.Context, logger *zap.Logger) (*rest.Config, error) {
	if o.kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		return cfg, nil
	}
	token := o.token
	if o.tokenFile != "" {
		data, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		token = string(data)
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	opts := join.Options{Server: o.server, Token: token, NodeName: o.nodeName, Dir: o.dataDir}
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		cfg, err := join.Bootstrap(ctx, opts)
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, join.ErrServerUnavailable) || ctx.Err() != nil {
			return nil, fmt.Errorf("join %s: %w", o.server, err)
		}
		logger.Info("waiting for the server to join", zap.Error(err), zap.Duration("retryIn", delay))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

func describeNames(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return names[0] + " ... " + names[len(names)-1]
}

func defaultAgentDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/skiff/agent"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".skiff", "agent")
	}
	return filepath.Join(".skiff", "agent")
}

func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil {
		return ""
	}
	return strings.ToLower(host)
}

// onPodBridge says whether ip is the address of the node's pod bridge, which is no address of the node.
func onPodBridge(ip net.IP) bool {
	iface, err := net.InterfaceByName(podnet.DefaultBridge)
	if err != nil {
		return false
	}
	addrs, _ := iface.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// firstIPv4 is the machine's first non-loopback IPv4 address, or "".
func firstIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || onPodBridge(n.IP) {
			continue
		}
		return n.IP.String()
	}
	return ""
}
