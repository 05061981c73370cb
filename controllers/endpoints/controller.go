// Package endpoints keeps the core/v1 Endpoints of every Service with a selector, as upstream's
// endpoints controller (pkg/controller/endpoint) does. EndpointSlices (package endpointslice) are what
// skiff's own service proxy and DNS read; Endpoints are kept for the clients that still read them.
//
// The Endpoints of a Service has the Service's name and labels (plus service.kubernetes.io/headless for
// headless Services) and lists each selected pod that has an IP: under addresses if it is Ready (or the
// Service publishes not-ready addresses), under notReadyAddresses otherwise, for each service port whose
// targetPort the pod resolves. Terminating pods are left out unless the Service publishes not-ready
// addresses. At most 1000 addresses are kept, with the endpoints.kubernetes.io/over-capacity annotation
// saying so. Services without a selector (like default/kubernetes) and ExternalName Services are left
// alone; the Endpoints of a deleted Service are deleted.
package endpoints

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
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
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/skiffhq/skiff/controllers/endpointslice"
)

// overCapacity is the value of the endpoints.kubernetes.io/over-capacity annotation.
const overCapacity = "truncated"

// Reconciler keeps the Endpoints of Services. A request names a Service.
type Reconciler struct {
	// Client reads through the manager's cache; nil means the manager's client.
	Client client.Client
	// Recorder receives failure events; nil means the manager's recorder for "endpoint-controller",
	// upstream's component name.
	Recorder record.EventRecorder
}

// SetupWithManager runs the reconciler for Services, for the Services selecting a pod that changes,
// for Endpoints deleted behind its back, and once at start for every Endpoints, to delete those whose
// Service went while the controller was not running.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("endpoint-controller")
	}
	onlyDeletes := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return builder.ControllerManagedBy(mgr).
		Named("endpoints").
		For(&corev1.Service{}).
		Watches(&corev1.Endpoints{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(onlyDeletes)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfPod)).
		WatchesRawSource(source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			go r.enqueueLeftovers(ctx, mgr, q)
			return nil
		})).
		Complete(r)
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

// enqueueLeftovers queues every Endpoints once the cache has synced, so that those of Services deleted
// while no controller ran are found, as upstream's checkLeftoverEndpoints. Endpoints used as
// leader-election locks have no Service and are skipped.
func (r *Reconciler) enqueueLeftovers(ctx context.Context, mgr ctrl.Manager, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return
	}
	list := &corev1.EndpointsList{}
	if err := r.Client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "List endpoints to find leftovers")
		return
	}
	for i := range list.Items {
		if _, ok := list.Items[i].Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
}

// Reconcile brings the Endpoints of the Service req names up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get service %s: %w", req, err)
		}
		// The Service is gone: so are its Endpoints.
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, Name: req.Name}}
		if err := r.Client.Delete(ctx, ep); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("delete endpoints %s: %w", req, err)
		}
		return ctrl.Result{}, nil
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		// Their Endpoints, if any, are someone else's.
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

	current := &corev1.Endpoints{}
	err := r.Client.Get(ctx, req.NamespacedName, current)
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("get endpoints %s: %w", req, err)
	}

	desired := desiredEndpoints(svc, pods, current)
	if desired == nil {
		return ctrl.Result{}, nil
	}
	if current == nil {
		err = r.Client.Create(ctx, desired)
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return ctrl.Result{}, nil
		}
	} else {
		err = r.Client.Update(ctx, desired)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctrl.Result{}, err
		}
		if current == nil {
			r.Recorder.Eventf(desired, corev1.EventTypeWarning, "FailedToCreateEndpoint",
				"Failed to create endpoint for service %s/%s: %v", svc.Namespace, svc.Name, err)
		} else if !apierrors.IsConflict(err) {
			r.Recorder.Eventf(desired, corev1.EventTypeWarning, "FailedToUpdateEndpoint",
				"Failed to update endpoint %s/%s: %v", svc.Namespace, svc.Name, err)
		}
		return ctrl.Result{}, fmt.Errorf("write endpoints %s: %w", req, err)
	}
	return ctrl.Result{}, nil
}

// desiredEndpoints is the Endpoints svc should have given its pods, built on current (nil if there is
// none), or nil if current is already right.
func desiredEndpoints(svc *corev1.Service, pods []*corev1.Pod, current *corev1.Endpoints) *corev1.Endpoints {
	subsets := desiredSubsets(svc, pods)
	truncated := truncate(subsets)
	if len(subsets) == 0 {
		subsets = nil
	}

	wantLabels := maps.Clone(svc.Labels)
	if wantLabels == nil {
		wantLabels = map[string]string{}
	}
	if !endpointslice.IsServiceIPSet(svc) {
		wantLabels[corev1.IsHeadlessService] = ""
	} else {
		delete(wantLabels, corev1.IsHeadlessService)
	}

	if current != nil {
		_, hasOverCapacity := current.Annotations[corev1.EndpointsOverCapacity]
		if subsetsEqual(current.Subsets, subsets) && maps.Equal(current.Labels, wantLabels) && hasOverCapacity == truncated {
			return nil
		}
	}

	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name}}
	if current != nil {
		ep = current.DeepCopy()
	}
	ep.Labels = wantLabels
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	ep.Annotations[corev1.EndpointsLastChangeTriggerTime] = endpointslice.LastChangeTriggerTime(svc, pods).UTC().Format(time.RFC3339Nano)
	if truncated {
		ep.Annotations[corev1.EndpointsOverCapacity] = overCapacity
	} else {
		delete(ep.Annotations, corev1.EndpointsOverCapacity)
	}
	ep.Subsets = subsets
	return ep
}

// subsetsEqual compares subsets as stored with subsets as built, ignoring the order of their parts and
// the resource version of target references.
func subsetsEqual(stored, built []corev1.EndpointSubset) bool {
	stored, built = repack(stored), repack(built)
	for i := range stored {
		for _, list := range [][]corev1.EndpointAddress{stored[i].Addresses, stored[i].NotReadyAddresses} {
			for j := range list {
				if list[j].TargetRef != nil && list[j].TargetRef.ResourceVersion != "" {
					ref := *list[j].TargetRef
					ref.ResourceVersion = ""
					list[j].TargetRef = &ref
				}
			}
		}
	}
	if len(stored) == 0 && len(built) == 0 {
		return true
	}
	return apiequality.Semantic.DeepEqual(stored, built)
}
