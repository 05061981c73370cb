// Package nodeipam gives every Node a pod CIDR, as upstream's node IPAM controller does with its range
// allocator (pkg/controller/nodeipam). Each Node without spec.podCIDR gets the lowest free subnet of
// MaskSize bits of the cluster CIDR, in spec.podCIDR and spec.podCIDRs; the node agent puts the node's
// pods in that range. A pod CIDR never changes once set (the API server refuses it).
//
// The allocator keeps no state of its own: which subnets are used is read from the Nodes on every
// reconcile, so a restarted controller carries on where it stopped and a deleted Node frees its subnet.
// The only memory is of subnets just written whose Nodes the cache has not caught up with, so that the
// same subnet is never given twice.
package nodeipam

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	// DefaultClusterCIDR is the range pod CIDRs are cut from unless ClusterCIDR says otherwise.
	DefaultClusterCIDR = "10.42.0.0/16"
	// DefaultMaskSizeIPv4 and DefaultMaskSizeIPv6 are the node CIDR sizes unless MaskSize says otherwise,
	// as upstream's --node-cidr-mask-size-ipv4/-ipv6.
	DefaultMaskSizeIPv4 = 24
	DefaultMaskSizeIPv6 = 64

	// retryFull is how often a Node waits again for a subnet when the range is full; a deleted Node
	// wakes the waiting ones at once.
	retryFull = time.Minute
)

// Reconciler allocates pod CIDRs to Nodes. A request names a Node.
type Reconciler struct {
	// Client reads through the manager's cache; nil means the manager's client.
	Client client.Client
	// Recorder receives the CIDRNotAvailable events; nil means the manager's recorder for
	// "cidrAllocator", upstream's component name.
	Recorder record.EventRecorder
	// ClusterCIDR is the range pod CIDRs are cut from (default 10.42.0.0/16). IPv4 or IPv6.
	ClusterCIDR string
	// MaskSize is the prefix length of each Node's pod CIDR (default 24 for IPv4, 64 for IPv6).
	MaskSize int

	cluster  netip.Prefix
	maskSize int

	mu sync.Mutex
	// written are the subnets given to Nodes whose update the cache may not show yet, by Node name.
	written map[string]netip.Prefix
}

// SetupWithManager checks the configuration and runs the reconciler for Nodes without a pod CIDR.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	cidr := r.ClusterCIDR
	if cidr == "" {
		cidr = DefaultClusterCIDR
	}
	cluster, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("cluster CIDR: %w", err)
	}
	r.cluster = cluster.Masked()
	r.maskSize = r.MaskSize
	if r.maskSize == 0 {
		r.maskSize = DefaultMaskSizeIPv4
		if r.cluster.Addr().Is6() {
			r.maskSize = DefaultMaskSizeIPv6
		}
	}
	if _, err := newCIDRSet(r.cluster, r.maskSize); err != nil {
		return err
	}
	r.written = map[string]netip.Prefix{}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("cidrAllocator")
	}

	return builder.ControllerManagedBy(mgr).
		Named("nodeipam").
		For(&corev1.Node{}, builder.WithPredicates(predicate.Funcs{
			// Heartbeats of Nodes that have their CIDR are of no interest.
			UpdateFunc: func(e event.UpdateEvent) bool { return !hasPodCIDR(e.ObjectNew.(*corev1.Node)) },
			DeleteFunc: func(event.DeleteEvent) bool { return false },
		})).
		// A deleted Node frees its subnet: Nodes waiting for one try again.
		Watches(&corev1.Node{}, handler.Funcs{
			DeleteFunc: func(ctx context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				nodes := &corev1.NodeList{}
				if err := r.Client.List(ctx, nodes); err != nil {
					log.FromContext(ctx).Error(err, "List nodes waiting for a pod CIDR")
					return
				}
				for i := range nodes.Items {
					if !hasPodCIDR(&nodes.Items[i]) {
						q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: nodes.Items[i].Name}})
					}
				}
			},
		}).
		Complete(r)
}

// Reconcile gives the Node req names a pod CIDR if it has none.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := &corev1.Node{}
	if err := r.Client.Get(ctx, req.NamespacedName, node); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get node %s: %w", req.Name, err)
	}
	if hasPodCIDR(node) {
		r.forget(node.Name)
		return ctrl.Result{}, nil
	}

	r.mu.Lock()
	if cidr, ok := r.written[node.Name]; ok {
		// The cache lags behind the update that gave this Node its subnet.
		r.mu.Unlock()
		log.FromContext(ctx).V(1).Info("Waiting for the cache to show the pod CIDR", "node", node.Name, "podCIDR", cidr)
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	r.mu.Unlock()

	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes); err != nil {
		return ctrl.Result{}, fmt.Errorf("list nodes: %w", err)
	}
	cidr, ok, err := r.allocate(nodes.Items)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		r.Recorder.Eventf(node, corev1.EventTypeNormal, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", node.Name)
		return ctrl.Result{RequeueAfter: retryFull}, nil
	}

	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.PodCIDR = cidr.String()
	node.Spec.PodCIDRs = []string{cidr.String()}
	if err := r.Client.Patch(ctx, node, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("set pod CIDR %s of node %s: %w", cidr, node.Name, err)
	}
	r.mu.Lock()
	r.written[node.Name] = cidr
	r.mu.Unlock()
	log.FromContext(ctx).Info("Allocated pod CIDR", "node", node.Name, "podCIDR", cidr)
	return ctrl.Result{}, nil
}

// allocate picks the subnet for a Node among nodes as the cache has them, counting subnets just
// written as used too.
func (r *Reconciler) allocate(nodes []corev1.Node) (netip.Prefix, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Forget what the cache now shows, or what was written for Nodes gone since.
	present := map[string]bool{}
	for i := range nodes {
		present[nodes[i].Name] = true
		if hasPodCIDR(&nodes[i]) {
			delete(r.written, nodes[i].Name)
		}
	}
	for name := range r.written {
		if !present[name] {
			delete(r.written, name)
		}
	}
	written := make([]netip.Prefix, 0, len(r.written))
	for _, p := range r.written {
		written = append(written, p)
	}
	return nextFree(r.cluster, r.maskSize, nodes, written)
}

func (r *Reconciler) forget(node string) {
	r.mu.Lock()
	delete(r.written, node)
	r.mu.Unlock()
}

// nextFree is the lowest subnet of maskSize bits of cluster that no Node's pod CIDRs and no subnet of
// also overlap; ok is false when there is none left.
func nextFree(cluster netip.Prefix, maskSize int, nodes []corev1.Node, also []netip.Prefix) (cidr netip.Prefix, ok bool, err error) {
	set, err := newCIDRSet(cluster, maskSize)
	if err != nil {
		return netip.Prefix{}, false, err
	}
	for i := range nodes {
		for _, c := range podCIDRs(&nodes[i]) {
			// A CIDR that does not parse or lies outside the cluster range takes nothing from it.
			if p, err := netip.ParsePrefix(c); err == nil {
				set.occupy(p)
			}
		}
	}
	for _, p := range also {
		set.occupy(p)
	}
	cidr, ok = set.next()
	return cidr, ok, nil
}

// podCIDRs are the Node's pod CIDRs: spec.podCIDRs, or spec.podCIDR as older writers set only that.
func podCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) > 0 {
		return node.Spec.PodCIDRs
	}
	if node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return nil
}

func hasPodCIDR(node *corev1.Node) bool { return len(podCIDRs(node)) > 0 }
