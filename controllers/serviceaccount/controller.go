// Package serviceaccount keeps a ServiceAccount named "default" in every active namespace, as upstream's
// serviceaccount controller (pkg/controller/serviceaccount) does. Pods that name no service account run
// as "default", so the account must exist as soon as the namespace does, and come back if it is deleted.
// Terminating namespaces are left alone: the API server refuses new objects in them.
package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// DefaultName is the service account every namespace gets.
const DefaultName = "default"

// Reconciler ensures the default ServiceAccount of each namespace. A request names a namespace.
type Reconciler struct {
	Client client.Client
}

// SetupWithManager runs the reconciler for every namespace, and again for a namespace whose default
// ServiceAccount is deleted.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("serviceaccount").
		For(&corev1.Namespace{}).
		Watches(&corev1.ServiceAccount{},
			handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.GetNamespace()}}}
			}),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				DeleteFunc:  func(e event.DeleteEvent) bool { return e.Object.GetName() == DefaultName },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		Complete(r)
}

// Reconcile creates the default ServiceAccount of the namespace req names if it is missing.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !wantsServiceAccounts(ns) {
		return ctrl.Result{}, nil
	}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: DefaultName}, &corev1.ServiceAccount{})
	switch {
	case err == nil:
		return ctrl.Result{}, nil
	case !apierrors.IsNotFound(err):
		return ctrl.Result{}, fmt.Errorf("get service account %s/%s: %w", ns.Name, DefaultName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: DefaultName}}
	if err := r.Client.Create(ctx, sa); err != nil {
		// The namespace may have begun terminating since the cache saw it; nothing to do then.
		if apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("create service account %s/%s: %w", ns.Name, DefaultName, err)
	}
	log.FromContext(ctx).V(1).Info("Created default service account", "namespace", ns.Name)
	return ctrl.Result{}, nil
}

// wantsServiceAccounts says whether the namespace should hold the default ServiceAccount: only active
// namespaces do (a namespace the API server has not yet given a phase counts as active).
func wantsServiceAccounts(ns *corev1.Namespace) bool {
	if ns.DeletionTimestamp != nil {
		return false
	}
	return ns.Status.Phase == corev1.NamespaceActive || ns.Status.Phase == ""
}
