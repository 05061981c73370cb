// Package resourcequota keeps the status of every ResourceQuota, as upstream's resource quota
// controller does: status.hard is a copy of spec.hard, and status.used is what the objects of the
// quota's namespace (within its scopes) use of each hard resource, measured by the evaluators of
// internal/quota, the same ones the API server's ResourceQuota admission charges with.
//
// Admission adds each object it admits to status.used at once, and enforces a quota only once this
// controller has written its status. The controller recalculates usage from the objects themselves:
//   - when a quota is created, or its spec changes (status updates alone are admission's charges and
//     are not recalculated, as upstream);
//   - when an object stops using quota: deletion of a pod, service or claim, or of any other kind a
//     quota counts (count/<resource>.<group>, watched from the first quota that counts it), a pod
//     reaching a terminal phase, a service changing type, a claim changing size;
//   - every ResyncPeriod (upstream: 5 minutes; here 30 s), for what no event reports: an admitted
//     object whose creation then failed, a pod stuck terminating past its grace period.
//
// Like upstream's, the recalculation reads the manager's cache, which may briefly lag behind an
// object admission has just charged; the next recalculation corrects it.
package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/skiffhq/skiff/internal/quota"
)

// DefaultResyncPeriod is how often every quota is recalculated in full.
const DefaultResyncPeriod = 30 * time.Second

// conflictRetry is how soon a quota whose status write lost a race is recalculated, unless the watch
// event of the newer version does it sooner.
const conflictRetry = time.Second

// Reconciler keeps ResourceQuota status. Upstream's controller records no events, nor does this one.
type Reconciler struct {
	// Client is the manager's cached client; its RESTMapper resolves the kinds of count/ quotas.
	Client client.Client
	// ResyncPeriod is how often each quota is recalculated in full (default DefaultResyncPeriod).
	ResyncPeriod time.Duration

	// evaluators measure objects for the event filters; they never list.
	evaluators quotav1.Registry
	cache      cache.Cache
	controller controller.Controller
	// watched holds the GroupResources whose deletions are watched (schema.GroupResource keys): the
	// informers this controller started, not state of the cluster.
	watched sync.Map
}

// typedKind is a resource whose usage depends on more than its metadata.
type typedKind struct {
	object  client.Object
	newList func() client.ObjectList
}

// typed are the resources counted from full objects and watched from setup; everything else is
// counted from metadata and watched once a quota counts it.
var typed = map[schema.GroupResource]typedKind{
	{Resource: "pods"}:     {&corev1.Pod{}, func() client.ObjectList { return &corev1.PodList{} }},
	{Resource: "services"}: {&corev1.Service{}, func() client.ObjectList { return &corev1.ServiceList{} }},
	{Resource: "persistentvolumeclaims"}: {&corev1.PersistentVolumeClaim{},
		func() client.ObjectList { return &corev1.PersistentVolumeClaimList{} }},
}

// SetupWithManager adds the controller to mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.evaluators = generic.NewRegistry(quota.NewEvaluators(nil, clock.RealClock{}))
	r.cache = mgr.GetCache()
	b := builder.ControllerManagedBy(mgr).
		For(&corev1.ResourceQuota{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				old, ok1 := e.ObjectOld.(*corev1.ResourceQuota)
				cur, ok2 := e.ObjectNew.(*corev1.ResourceQuota)
				return ok1 && ok2 && needsSync(old, cur)
			},
			DeleteFunc: func(event.DeleteEvent) bool { return false },
		}))
	for gr, kind := range typed {
		e := r.evaluators.Get(gr)
		b = b.Watches(kind.object, handler.EnqueueRequestsFromMapFunc(r.quotasCounting(e)),
			builder.WithPredicates(releasesQuota(e)))
	}
	c, err := b.Build(r)
	if err != nil {
		return err
	}
	r.controller = c
	return nil
}

// Reconcile recalculates one quota's usage and writes its status if it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rq corev1.ResourceQuota
	if err := r.Client.Get(ctx, req.NamespacedName, &rq); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	registry, err := r.registryFor(ctx, &rq)
	if err != nil {
		return ctrl.Result{}, err
	}
	// On an error, usage holds what could be measured; it is written, and the rest retried.
	usage, calcErr := quotav1.CalculateUsage(rq.Namespace, rq.Spec.Scopes, rq.Spec.Hard, registry, rq.Spec.ScopeSelector)
	if status, changed := desiredStatus(&rq, usage); changed {
		rq.Status = status
		if err := r.Client.Status().Update(ctx, &rq); err != nil {
			if apierrors.IsConflict(err) && calcErr == nil {
				// Admission charged the quota since it was read: recalculate from the newer version.
				log.FromContext(ctx).V(1).Info("quota changed since read, recalculating", "quota", req.NamespacedName)
				return ctrl.Result{RequeueAfter: conflictRetry}, nil
			}
			return ctrl.Result{}, errors.Join(calcErr, fmt.Errorf("update status of quota %s: %w", req.NamespacedName, err))
		}
	}
	if calcErr != nil {
		return ctrl.Result{}, fmt.Errorf("calculate usage of quota %s: %w", req.NamespacedName, calcErr)
	}
	return ctrl.Result{RequeueAfter: r.resyncPeriod()}, nil
}

func (r *Reconciler) resyncPeriod() time.Duration {
	if r.ResyncPeriod > 0 {
		return r.ResyncPeriod
	}
	return DefaultResyncPeriod
}

// desiredStatus is the status of rq given newly measured usage: hard copies spec.hard; used holds
// the new usage of each hard resource, or the last known one where none could be measured (an
// evaluator failed). changed says whether it differs from rq's status.
func desiredStatus(rq *corev1.ResourceQuota, usage corev1.ResourceList) (status corev1.ResourceQuotaStatus, changed bool) {
	hard := quotav1.Add(corev1.ResourceList{}, rq.Spec.Hard)
	used := quotav1.Add(corev1.ResourceList{}, rq.Status.Used)
	for name, q := range usage {
		used[name] = q
	}
	used = quotav1.Mask(used, quotav1.ResourceNames(hard))
	changed = !quotav1.Equals(hard, rq.Status.Hard) || !quotav1.Equals(used, rq.Status.Used)
	return corev1.ResourceQuotaStatus{Hard: hard, Used: used}, changed
}

// needsSync says whether an update of a quota needs a recalculation: its spec changed, or its
// status no longer reflects the spec. Updates of status.used alone are admission's charges.
func needsSync(old, cur *corev1.ResourceQuota) bool {
	return !quotav1.Equals(old.Spec.Hard, cur.Spec.Hard) ||
		!equalScopes(old.Spec, cur.Spec) ||
		!quotav1.Equals(cur.Spec.Hard, cur.Status.Hard) ||
		(len(cur.Spec.Hard) > 0 && cur.Status.Used == nil)
}

func equalScopes(a, b corev1.ResourceQuotaSpec) bool {
	if len(a.Scopes) != len(b.Scopes) {
		return false
	}
	for i := range a.Scopes {
		if a.Scopes[i] != b.Scopes[i] {
			return false
		}
	}
	if (a.ScopeSelector == nil) != (b.ScopeSelector == nil) {
		return false
	}
	return a.ScopeSelector == nil || a.ScopeSelector.String() == b.ScopeSelector.String()
}

// releasesQuota lets through the events of objects measured by e that can lower a quota's usage:
// deletions, and updates that change what the object uses. Creations were charged by admission.
func releasesQuota(e quotav1.Evaluator) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(ev event.UpdateEvent) bool {
			old, err1 := e.Usage(ev.ObjectOld)
			cur, err2 := e.Usage(ev.ObjectNew)
			return err1 != nil || err2 != nil || !quotav1.Equals(old, cur)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// quotasCounting maps an object to the quotas of its namespace that e charges it to.
func (r *Reconciler) quotasCounting(e quotav1.Evaluator) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var quotas corev1.ResourceQuotaList
		if err := r.Client.List(ctx, &quotas, client.InNamespace(obj.GetNamespace())); err != nil {
			log.FromContext(ctx).Error(err, "list quotas to recalculate", "namespace", obj.GetNamespace())
			return nil
		}
		var reqs []reconcile.Request
		for i := range quotas.Items {
			q := &quotas.Items[i]
			if len(e.MatchingResources(quotav1.ResourceNames(q.Spec.Hard))) > 0 {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(q)})
			}
		}
		return reqs
	}
}

// registryFor returns the evaluators that measure rq's resources from the cache: those of
// internal/quota, and an object count for each other count/<resource>.<group> rq constrains whose
// resource the cluster serves (one it does not serve gets no usage, as upstream). The kinds counted
// from metadata get their deletions watched.
func (r *Reconciler) registryFor(ctx context.Context, rq *corev1.ResourceQuota) (quotav1.Registry, error) {
	listerFor := r.listerFor(ctx)
	registry := generic.NewRegistry(quota.NewEvaluators(listerFor, clock.RealClock{}))
	ignored := quota.IgnoredResources()
	for name := range rq.Spec.Hard {
		gr, ok := quota.ObjectCountResource(name)
		if !ok || registry.Get(gr) != nil {
			continue
		}
		if _, ok := ignored[gr]; ok {
			continue
		}
		gvr, err := r.namespacedResource(gr)
		if err != nil {
			log.FromContext(ctx).V(1).Info("quota counts what the cluster does not serve in namespaces", "resource", gr.String(), "err", err)
			continue
		}
		registry.Add(quota.NewObjectCountEvaluator(gvr, listerFor))
	}
	hard := quotav1.ResourceNames(rq.Spec.Hard)
	for _, e := range registry.List() {
		gr := e.GroupResource()
		if _, ok := typed[gr]; ok || len(e.MatchingResources(hard)) == 0 {
			continue
		}
		if err := r.watchDeletions(ctx, gr, e); err != nil {
			return nil, err
		}
	}
	return registry, nil
}

// namespacedResource resolves gr to the version the cluster prefers, if the cluster serves it and
// its objects live in namespaces (only those can count against a namespace's quota).
func (r *Reconciler) namespacedResource(gr schema.GroupResource) (schema.GroupVersionResource, error) {
	mapper := r.Client.RESTMapper()
	gvr, err := mapper.ResourceFor(gr.WithVersion(""))
	if err != nil {
		return gvr, err
	}
	gvk, err := mapper.KindFor(gvr)
	if err != nil {
		return gvr, err
	}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return gvr, err
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return gvr, fmt.Errorf("%s is not namespaced", gr)
	}
	return gvr, nil
}

// watchDeletions makes deletions of gr's objects recalculate the quotas that count them, once.
func (r *Reconciler) watchDeletions(ctx context.Context, gr schema.GroupResource, e quotav1.Evaluator) error {
	if _, ok := r.watched.Load(gr); ok {
		return nil
	}
	gvk, err := r.Client.RESTMapper().KindFor(gr.WithVersion(""))
	if err != nil {
		return fmt.Errorf("kind of %s: %w", gr, err)
	}
	if _, loaded := r.watched.LoadOrStore(gr, struct{}{}); loaded {
		return nil
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	src := source.Kind[client.Object](r.cache, obj, handler.EnqueueRequestsFromMapFunc(r.quotasCounting(e)),
		predicate.Funcs{
			CreateFunc:  func(event.CreateEvent) bool { return false },
			UpdateFunc:  func(event.UpdateEvent) bool { return false },
			DeleteFunc:  func(event.DeleteEvent) bool { return true },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})
	if err := r.controller.Watch(src); err != nil {
		r.watched.Delete(gr)
		return fmt.Errorf("watch deletions of %s: %w", gr, err)
	}
	log.FromContext(ctx).V(1).Info("watching deletions for quota", "resource", gr.String())
	return nil
}

// listerFor gives evaluators the objects of a resource from the cache: full objects for the typed
// resources, metadata for the others (an object count needs no more).
func (r *Reconciler) listerFor(ctx context.Context) quotav1.ListerForResourceFunc {
	return func(gvr schema.GroupVersionResource) (toolscache.GenericLister, error) {
		newList := typed[gvr.GroupResource()].newList
		if newList == nil {
			gvk, err := r.Client.RESTMapper().KindFor(gvr)
			if err != nil {
				return nil, fmt.Errorf("kind of %s: %w", gvr, err)
			}
			newList = func() client.ObjectList {
				list := &metav1.PartialObjectMetadataList{}
				list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				return list
			}
		}
		return &cacheLister{ctx: ctx, reader: r.Client, resource: gvr.GroupResource(), newList: newList}, nil
	}
}

// cacheLister is a client-go GenericLister over a controller-runtime reader, as the generic quota
// evaluators expect.
type cacheLister struct {
	ctx       context.Context
	reader    client.Reader
	resource  schema.GroupResource
	newList   func() client.ObjectList
	namespace string
}

func (l *cacheLister) List(selector labels.Selector) ([]runtime.Object, error) {
	list := l.newList()
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: selector}, client.UnsafeDisableDeepCopy}
	if l.namespace != "" {
		opts = append(opts, client.InNamespace(l.namespace))
	}
	if err := l.reader.List(l.ctx, list, opts...); err != nil {
		return nil, err
	}
	return meta.ExtractList(list)
}

func (l *cacheLister) Get(name string) (runtime.Object, error) {
	items, err := l.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, item := range items {
		if obj, ok := item.(metav1.Object); ok && obj.GetName() == name {
			return item, nil
		}
	}
	return nil, apierrors.NewNotFound(l.resource, name)
}

func (l *cacheLister) ByNamespace(namespace string) toolscache.GenericNamespaceLister {
	return &cacheLister{ctx: l.ctx, reader: l.reader, resource: l.resource, newList: l.newList, namespace: namespace}
}
