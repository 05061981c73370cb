// Package namespace empties namespaces being deleted, as Kubernetes' namespace controller does.
//
// Deleting a namespace only marks it Terminating: the API server keeps it, and refuses new content in it,
// while its spec.finalizers holds "kubernetes". For such a namespace the reconciler discovers every
// namespaced resource that can be deleted (built-in and custom), deletes each resource's objects in the
// namespace (a whole collection at once where supported), lists what remains, and reports progress in
// the namespace's conditions (NamespaceDeletionDiscoveryFailure, NamespaceDeletionGroupVersionParsingFailure,
// NamespaceDeletionContentFailure, NamespaceContentRemaining, NamespaceFinalizersRemaining) with upstream's
// reasons and messages. While content remains it looks again after an estimate (half the longest pod
// grace period, or of the time finalizers are assumed to take); once the namespace is empty it removes
// "kubernetes" from spec.finalizers through the finalize subresource, and the API server deletes the
// namespace. Pods are deleted with their grace period, so a namespace whose pods sit on a node that never
// comes back stays Terminating, as upstream.
package namespace

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// defaultDeletionGracePeriod is upstream's wait between a namespace's deletion and the first pass over
// its content.
const defaultDeletionGracePeriod = 5 * time.Second

// Reconciler empties and finalizes namespaces being deleted.
type Reconciler struct {
	// Client reads namespaces (the manager's cached client).
	Client client.Client
	// DeletionGracePeriod is how long after its deletion a namespace's content starts to be deleted, so
	// that every API server sharing the store has seen it Terminating and refuses new content, and late
	// creations are visible. Zero means upstream's 5s; a negative period means no wait.
	DeletionGracePeriod time.Duration

	deleter *contentDeleter
}

// SetupWithManager watches namespaces being deleted; the content is read and deleted straight through
// the API server mgr is configured for.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	cfg := mgr.GetConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("namespace controller clientset: %w", err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("namespace controller metadata client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("namespace controller discovery client: %w", err)
	}
	r.deleter = &contentDeleter{namespaces: cs.CoreV1().Namespaces(), pods: cs.CoreV1(), metadata: md, discovery: dc}
	if r.DeletionGracePeriod == 0 {
		r.DeletionGracePeriod = defaultDeletionGracePeriod
	}
	deleting := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetDeletionTimestamp() != nil })
	return builder.ControllerManagedBy(mgr).
		Named("namespace").
		For(&corev1.Namespace{}, builder.WithPredicates(deleting)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: 10,
			// Retry at least every minute, as upstream: content may wait on other controllers.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, time.Minute),
		}).
		Complete(r)
}

// Reconcile does one pass over a namespace being deleted.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ns.DeletionTimestamp == nil {
		return ctrl.Result{}, nil
	}
	if wait := r.DeletionGracePeriod - time.Since(ns.DeletionTimestamp.Time); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	estimate, err := r.deleter.run(ctx, ns.Name)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("delete content of namespace %s: %w", ns.Name, err)
	}
	if estimate > 0 {
		return ctrl.Result{RequeueAfter: time.Duration(estimate/2+1) * time.Second}, nil
	}
	return ctrl.Result{}, nil
}
