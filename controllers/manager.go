// Package controllers runs skiff's control loops: one controller-runtime reconciler per kind, each in its
// own package below this one, and the scheduler. They reach the cluster only through its API, so the
// same manager runs inside `skiff server` and alone as `skiff controllers --kubeconfig F`.
package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/skiffhq/skiff/controllers/cronjob"
	"github.com/skiffhq/skiff/controllers/daemonset"
	"github.com/skiffhq/skiff/controllers/deployment"
	"github.com/skiffhq/skiff/controllers/endpoints"
	"github.com/skiffhq/skiff/controllers/endpointslice"
	"github.com/skiffhq/skiff/controllers/garbagecollector"
	"github.com/skiffhq/skiff/controllers/job"
	"github.com/skiffhq/skiff/controllers/localpv"
	"github.com/skiffhq/skiff/controllers/namespace"
	"github.com/skiffhq/skiff/controllers/nodeipam"
	"github.com/skiffhq/skiff/controllers/nodelifecycle"
	"github.com/skiffhq/skiff/controllers/persistentvolume"
	"github.com/skiffhq/skiff/controllers/podgc"
	"github.com/skiffhq/skiff/controllers/replicaset"
	"github.com/skiffhq/skiff/controllers/replicationcontroller"
	"github.com/skiffhq/skiff/controllers/resourcequota"
	"github.com/skiffhq/skiff/controllers/scheduler"
	"github.com/skiffhq/skiff/controllers/serviceaccount"
	"github.com/skiffhq/skiff/controllers/statefulset"
	"github.com/skiffhq/skiff/controllers/ttlafterfinished"
)

// Options configure the controllers. The zero value of each field means its default.
type Options struct {
	// LeaderElection makes one manager of several on a cluster run the loops, holding the Lease
	// kube-system/skiff-controllers.
	LeaderElection bool
	// LeaderElectionIdentity names this manager in the Lease; a stable identity lets a restarted
	// manager take the Lease back at once instead of waiting for it to expire.
	LeaderElectionIdentity string
	// ClusterCIDR is the range node pod CIDRs are cut from (default 10.42.0.0/16).
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's pod CIDR (default 24).
	NodeCIDRMaskSize int
	// NodeMonitorGracePeriod is how long a node may miss heartbeats before it is NotReady (default 40s).
	NodeMonitorGracePeriod time.Duration
	// DefaultTolerationSeconds is how long pods without their own toleration stay on a NotReady or
	// unreachable node before they are evicted (default 300).
	DefaultTolerationSeconds int64
	// Controllers selects the controllers to run, as kube-controller-manager's --controllers: "*"
	// is every controller, "name" one, "-name" not that one (default "*").
	Controllers []string
	// Disabled names controllers not to run, whatever Controllers says.
	Disabled []string
	// Logger receives the controllers' logs.
	Logger logr.Logger
}

func (o *Options) setDefaults() {
	if o.ClusterCIDR == "" {
		o.ClusterCIDR = "10.42.0.0/16"
	}
	if o.NodeCIDRMaskSize == 0 {
		o.NodeCIDRMaskSize = 24
	}
	if o.NodeMonitorGracePeriod == 0 {
		o.NodeMonitorGracePeriod = 40 * time.Second
	}
	if o.DefaultTolerationSeconds == 0 {
		o.DefaultTolerationSeconds = 300
	}
	if len(o.Controllers) == 0 {
		o.Controllers = []string{"*"}
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
}

// controller is one control loop and how to add it to a manager.
type controller struct {
	name  string
	setup func(mgr manager.Manager, opts Options) error
}

// all are the controllers a manager runs unless disabled, by name.
var all = []controller{
	{name: "job", setup: func(mgr manager.Manager, _ Options) error {
		return (&job.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("job-controller")}).SetupWithManager(mgr)
	}},
	{name: "cronjob", setup: func(mgr manager.Manager, _ Options) error {
		return (&cronjob.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("cronjob-controller")}).SetupWithManager(mgr)
	}},
	{name: "ttlafterfinished", setup: func(mgr manager.Manager, _ Options) error {
		return (&ttlafterfinished.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	}},
	{name: "deployment", setup: func(mgr manager.Manager, _ Options) error {
		return (&deployment.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("deployment-controller")}).SetupWithManager(mgr)
	}},
	{name: "replicaset", setup: func(mgr manager.Manager, _ Options) error {
		return (&replicaset.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("replicaset-controller")}).SetupWithManager(mgr)
	}},
	{name: "replicationcontroller", setup: func(mgr manager.Manager, _ Options) error {
		return (&replicationcontroller.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("replication-controller")}).SetupWithManager(mgr)
	}},
	{name: "scheduler", setup: func(mgr manager.Manager, _ Options) error {
		return (&scheduler.Scheduler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("default-scheduler")}).SetupWithManager(mgr)
	}},
	{name: "endpointslice", setup: func(mgr manager.Manager, _ Options) error {
		return (&endpointslice.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("endpointslice-controller")}).SetupWithManager(mgr)
	}},
	{name: "endpoints", setup: func(mgr manager.Manager, _ Options) error {
		return (&endpoints.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("endpoint-controller")}).SetupWithManager(mgr)
	}},
	{name: "serviceaccount", setup: func(mgr manager.Manager, _ Options) error {
		return (&serviceaccount.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	}},
	{name: "podgc", setup: func(mgr manager.Manager, _ Options) error {
		return (&podgc.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}).SetupWithManager(mgr)
	}},
	{name: "nodeipam", setup: func(mgr manager.Manager, opts Options) error {
		return (&nodeipam.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("cidrAllocator"),
			ClusterCIDR: opts.ClusterCIDR, MaskSize: opts.NodeCIDRMaskSize}).SetupWithManager(mgr)
	}},
	{name: "nodelifecycle", setup: func(mgr manager.Manager, opts Options) error {
		return (&nodelifecycle.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("node-controller"),
			NodeMonitorGracePeriod: opts.NodeMonitorGracePeriod}).SetupWithManager(mgr)
	}},
	{name: "tainteviction", setup: func(mgr manager.Manager, opts Options) error {
		return (&nodelifecycle.TaintEvictionReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("taint-eviction-controller"),
			DefaultTolerationSeconds: opts.DefaultTolerationSeconds}).SetupWithManager(mgr)
	}},
	{name: "resourcequota", setup: func(mgr manager.Manager, _ Options) error {
		return (&resourcequota.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	}},
	{name: "persistentvolume-binder", setup: func(mgr manager.Manager, _ Options) error {
		return (&persistentvolume.Reconciler{Client: mgr.GetClient(),
			Recorder: mgr.GetEventRecorderFor("persistentvolume-controller")}).SetupWithManager(mgr)
	}},
	{name: "localpv", setup: func(mgr manager.Manager, _ Options) error {
		return (&localpv.Reconciler{Client: mgr.GetClient(),
			Recorder: mgr.GetEventRecorderFor(localpv.ProvisionerName)}).SetupWithManager(mgr)
	}},
	{name: "garbagecollector", setup: func(mgr manager.Manager, _ Options) error {
		return (&garbagecollector.Collector{}).SetupWithManager(mgr)
	}},
	{name: "namespace", setup: func(mgr manager.Manager, _ Options) error {
		return (&namespace.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	}},
	{name: "statefulset", setup: func(mgr manager.Manager, _ Options) error {
		return (&statefulset.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("statefulset-controller")}).SetupWithManager(mgr)
	}},
	{name: "daemonset", setup: func(mgr manager.Manager, _ Options) error {
		return (&daemonset.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("daemonset-controller")}).SetupWithManager(mgr)
	}},
}

// enabled says whether the controller called name runs.
func (o *Options) enabled(name string) bool {
	if slices.Contains(o.Disabled, name) || slices.Contains(o.Controllers, "-"+name) {
		return false
	}
	return slices.Contains(o.Controllers, name) || slices.Contains(o.Controllers, "*")
}

// validate refuses names of controllers that do not exist.
func (o *Options) validate() error {
	known := Names()
	for _, c := range o.Controllers {
		if name := strings.TrimPrefix(c, "-"); c != "*" && !slices.Contains(known, name) {
			return fmt.Errorf("--controllers: unknown controller %q (known: *, %s)", name, strings.Join(known, ", "))
		}
	}
	for _, d := range o.Disabled {
		if !slices.Contains(known, d) {
			return fmt.Errorf("--disable-controllers: unknown controller %q (known: %s)", d, strings.Join(known, ", "))
		}
	}
	return nil
}

// Names are the names of every controller, as --controllers and --disable-controllers take them.
func Names() []string {
	var names []string
	for _, c := range all {
		names = append(names, c.name)
	}
	return names
}

// NewManager returns a manager with every controller not disabled, ready to Start.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var lock resourcelock.Interface
	if opts.LeaderElection && opts.LeaderElectionIdentity != "" {
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		lock, err = resourcelock.New(resourcelock.LeasesResourceLock, "kube-system", "skiff-controllers",
			client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: opts.LeaderElectionIdentity})
		if err != nil {
			return nil, err
		}
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                              scheme.Scheme,
		Logger:                              opts.Logger,
		Metrics:                             metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:              "0",
		LeaderElection:                      opts.LeaderElection,
		LeaderElectionID:                    "skiff-controllers",
		LeaderElectionNamespace:             "kube-system",
		LeaderElectionReleaseOnCancel:       true,
		LeaderElectionResourceLockInterface: lock,
		// Managed fields are for the API server's apply logic; the controllers never read them.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		// Several managers may live in one process (tests, several servers); metric names would clash.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	for _, c := range all {
		if !opts.enabled(c.name) {
			continue
		}
		if err := c.setup(mgr, opts); err != nil {
			return nil, fmt.Errorf("controller %s: %w", c.name, err)
		}
	}
	return mgr, nil
}

// Run runs the controllers until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	mgr, err := NewManager(cfg, opts)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
