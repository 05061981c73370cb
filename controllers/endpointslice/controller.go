// Package endpointslice keeps the EndpointSlices of every Service with a selector, as upstream's
// EndpointSlice controller (pkg/controller/endpointslice and k8s.io/endpointslice) does. Slices are
// what the service proxy and cluster DNS read to find a Service's pods.
//
// Each Service gets slices of its address types (one per IP family), named "<service>-<random>",
// labeled kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by
// endpointslice-controller.k8s.io (plus the Service's own labels and service.kubernetes.io/headless for
// headless Services), owned by the Service so that they go with it. Every selected pod with an IP is an
// endpoint, terminating pods included: ready when it is Ready and not terminating (or always, when the
// Service publishes not-ready addresses), serving when it is Ready, terminating when it is being
// deleted; with its node, its node's zone, a reference to the pod, and its hostname when its subdomain
// is the Service. Pods resolving the Service's named ports to different numbers go to different slices,
// since a slice has one set of ports. A slice holds at most MaxEndpointsPerSlice endpoints.
//
// Slices are changed in place rather than replaced, so that readers see small changes: an endpoint
// whose conditions change is updated where it is, and new endpoints fill the slices being written
// anyway before any new slice is made. Services without a selector (whose slices someone else writes)
// and ExternalName Services are left alone.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// staleRetry is how soon a Service whose slices the cache has not caught up with is looked at again;
// the slice events that catch it up requeue it sooner.
const staleRetry = time.Second

// Reconciler keeps the EndpointSlices of Services. A request names a Service.
type Reconciler struct {
	// Client reads through the manager's cache; nil means the manager's client.
	Client client.Client
	// Recorder receives failure events; nil means the manager's recorder for
	// "endpointslice-controller", upstream's component name.
	Recorder record.EventRecorder
	// MaxEndpointsPerSlice is how many endpoints one slice holds at most (default 100, at most 1000).
	MaxEndpointsPerSlice int

	writes *writeTracker
}

// SetupWithManager runs the reconciler for Services, for the Services selecting a pod that changes, and
// for the Service of a slice that changes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("endpointslice-controller")
	}
	switch {
	case r.MaxEndpointsPerSlice == 0:
		r.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	case r.MaxEndpointsPerSlice < 1 || r.MaxEndpointsPerSlice > 1000:
		return fmt.Errorf("max endpoints per slice %d is not within 1..1000", r.MaxEndpointsPerSlice)
	}
	r.writes = newWriteTracker()
	return builder.ControllerManagedBy(mgr).
		Named("endpointslice").
		For(&corev1.Service{}).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(serviceOfSlice)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfPod)).
		Complete(r)
}

// serviceOfSlice is the Service a slice managed by this controller belongs to, by its service-name
// label (which, unlike an owner reference, also finds the Service of a slice left by an earlier one).
func serviceOfSlice(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[discoveryv1.LabelManagedBy] != ControllerName || l[discoveryv1.LabelServiceName] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: l[discoveryv1.LabelServiceName]}}}
}

// servicesOfPod are the Services in the pod's namespace whose selector matches it. For an update the
// builder calls it with the old pod as well, so Services the pod leaves are synced too.
func (r *Reconciler) servicesOfPod(ctx context.Context, obj client.Object) []reconcile.Request {
	services := &corev1.ServiceList{}
	if err := r.Client.List(ctx, services, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "List services of pod", "pod", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []reconcile.Request
	for i := range services.Items {
		svc := &services.Items[i]
		if svc.Spec.Selector != nil && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(obj.GetLabels())) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(svc)})
		}
	}
	return reqs
}

// Reconcile brings the EndpointSlices of the Service req names up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		if apierrors.IsNotFound(err) {
			// Its slices are owned by it: the garbage collector deletes them.
			r.writes.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get service %s: %w", req, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return ctrl.Result{}, nil
	}

	podList := &corev1.PodList{}
	if err := r.Client.List(ctx, podList, client.InNamespace(svc.Namespace),
		client.MatchingLabelsSelector{Selector: labels.SelectorFromValidatedSet(svc.Spec.Selector)}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list pods of service %s: %w", req, err)
	}
	pods := make([]*corev1.Pod, len(podList.Items))
	for i := range podList.Items {
		pods[i] = &podList.Items[i]
	}
	sliceList := &discoveryv1.EndpointSliceList{}
	if err := r.Client.List(ctx, sliceList, client.InNamespace(svc.Namespace), client.MatchingLabels{
		discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: ControllerName,
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list endpoint slices of service %s: %w", req, err)
	}
	var cached, existing []*discoveryv1.EndpointSlice
	for i := range sliceList.Items {
		s := &sliceList.Items[i]
		cached = append(cached, s)
		// Slices already being deleted are gone as far as the plan goes.
		if s.DeletionTimestamp == nil {
			existing = append(existing, s)
		}
	}
	if r.writes.stale(req.NamespacedName, cached, time.Now()) {
		log.FromContext(ctx).V(1).Info("Endpoint slice cache is behind this controller's writes; waiting")
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}

	nodes := map[string]*corev1.Node{}
	var nodeErr error
	nodeOf := func(name string) *corev1.Node {
		if node, ok := nodes[name]; ok {
			return node
		}
		var node *corev1.Node
		if name != "" {
			n := &corev1.Node{}
			err := r.Client.Get(ctx, types.NamespacedName{Name: name}, n)
			switch {
			case err == nil:
				node = n
			case !apierrors.IsNotFound(err):
				nodeErr = err
			}
		}
		nodes[name] = node
		return node
	}
	p := &planner{svc: svc, nodeOf: nodeOf, maxPerSlice: r.MaxEndpointsPerSlice}
	changes, skipped := p.plan(pods, existing)
	if nodeErr != nil {
		return ctrl.Result{}, fmt.Errorf("get nodes of service %s: %w", req, nodeErr)
	}

	if err := r.apply(ctx, svc, changes, LastChangeTriggerTime(svc, pods)); err != nil {
		if apierrors.IsConflict(err) || ctx.Err() != nil {
			// A conflict means the cache was behind someone else's write: the next try sees it.
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", svc.Namespace, svc.Name, err)
		return ctrl.Result{}, err
	}
	if len(skipped) > 0 {
		// Upstream retries too: the pods' Node may not be in the cache yet.
		return ctrl.Result{}, fmt.Errorf("pods %s of service %s skipped: their node is not known", strings.Join(skipped, ", "), req)
	}
	return ctrl.Result{}, nil
}

// apply writes the changes, stamping written slices with the trigger time.
func (r *Reconciler) apply(ctx context.Context, svc *corev1.Service, c changes, trigger time.Time) error {
	key := client.ObjectKeyFromObject(svc)
	stamp := func(s *discoveryv1.EndpointSlice) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
	// New slices of a Service being deleted would race with the garbage collector deleting its slices.
	if svc.DeletionTimestamp == nil {
		for _, s := range c.create {
			stamp(s)
			if err := r.Client.Create(ctx, s); err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("create endpoint slice for service %s: %w", key, err)
			}
			r.writes.wrote(key, s, time.Now())
		}
	}
	for _, s := range c.update {
		stamp(s)
		if err := r.Client.Update(ctx, s); err != nil {
			return fmt.Errorf("update endpoint slice %s of service %s: %w", s.Name, key, err)
		}
		r.writes.wrote(key, s, time.Now())
	}
	var errs []error
	for _, s := range c.delete {
		if err := r.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete endpoint slice %s of service %s: %w", s.Name, key, err))
			continue
		}
		r.writes.deleted(key, s, time.Now())
	}
	return errors.Join(errs...)
}
