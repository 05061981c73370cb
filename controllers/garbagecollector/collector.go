package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	// absentOwnerCacheSize bounds the memory of owners the API said do not exist, as upstream.
	absentOwnerCacheSize = 500
	// crdSettleWindow is how long after a CRD changes discovery is re-read every second: the API server
	// serves a new resource a little after the CRD is Established.
	crdSettleWindow = 10 * time.Second
	// minResyncInterval spaces rediscoveries asked for in bursts.
	minResyncInterval = 200 * time.Millisecond
	// unknownKindResyncInterval spaces rediscoveries asked for by references to kinds not served (yet).
	unknownKindResyncInterval = 5 * time.Second
)

var (
	// errVirtualDeleteQueued means the item proved absent and the graph will drop it: nothing to retry.
	errVirtualDeleteQueued = errors.New("item does not exist; its removal from the graph is queued")
	// errClusterScopedWithNamespacedOwner will not resolve by retrying.
	errClusterScopedWithNamespacedOwner = errors.New("cluster-scoped objects cannot refer to namespaced owners")
)

// collector is the running garbage collector.
type collector struct {
	metadata     metadata.Interface
	discovery    discovery.ServerResourcesInterfaceWithContext
	recorder     record.EventRecorder
	workers      int
	resyncPeriod time.Duration

	graph    *graph
	monitors *monitors
	// changes carries informer events and virtual deletions to the one goroutine that edits the graph.
	changes         workqueue.TypedInterface[*event]
	attemptToDelete workqueue.TypedRateLimitingInterface[types.UID]
	attemptToOrphan workqueue.TypedRateLimitingInterface[types.UID]
	// absent are owners the API said do not exist, keyed by objectRef (namespace empty when
	// cluster-scoped).
	absent *lru.Cache

	mapper             atomic.Pointer[meta.RESTMapper]
	lastCompleteMapper meta.RESTMapper // touched only by the goroutine running Start
	kick               chan struct{}
	lastCRDChange      atomic.Int64 // unix nanoseconds
	lastResync         atomic.Int64 // unix nanoseconds
}

func newCollector(md metadata.Interface, dc discovery.ServerResourcesInterfaceWithContext, recorder record.EventRecorder, workers int, resyncPeriod time.Duration) *collector {
	c := &collector{
		metadata:     md,
		discovery:    dc,
		recorder:     recorder,
		workers:      workers,
		resyncPeriod: resyncPeriod,
		graph:        newGraph(),
		changes:      workqueue.NewTyped[*event](),
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_delete"}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_orphan"}),
		absent: lru.New(absentOwnerCacheSize),
		kick:   make(chan struct{}, 1),
	}
	c.monitors = &monitors{client: md, onEvent: c.changes.Add, onCRDChange: c.crdChanged}
	return c
}

// NeedLeaderElection makes only the elected manager collect garbage.
func (c *collector) NeedLeaderElection() bool { return true }

// Start runs the collector until ctx is done.
func (c *collector) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("garbagecollector")
	ctx = log.IntoContext(ctx, logger)
	var wg sync.WaitGroup
	defer func() {
		c.changes.ShutDown()
		c.attemptToDelete.ShutDown()
		c.attemptToOrphan.ShutDown()
		c.monitors.stop()
		wg.Wait()
	}()
	wg.Go(c.processChanges)

	// Discovery must work once before anything can be watched.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.resync(ctx); err != nil {
			logger.Error(err, "Discovering resources")
		}
		return c.mapper.Load() != nil, nil
	})
	if err != nil {
		return nil // ctx is done
	}
	// Orphaning and foreground deletion need every dependent in the graph: wait for the monitors to
	// list, but not forever (a broken resource must not stop collection of all others).
	syncCtx, cancel := context.WithTimeout(ctx, c.resyncPeriod)
	if !cache.WaitForCacheSync(syncCtx.Done(), c.monitors.synced) {
		logger.Info("Not all resources listed in time; collecting garbage anyway")
	}
	cancel()
	logger.V(1).Info("Collecting garbage", "objects", c.graph.size())
	for range c.workers {
		wg.Go(func() {
			for c.processAttemptToDelete(ctx) {
			}
		})
		wg.Go(func() {
			for c.processAttemptToOrphan(ctx) {
			}
		})
	}
	c.resyncLoop(ctx)
	return nil
}

// crdChanged asks for discovery to be read again, and again each second for a while.
func (c *collector) crdChanged() {
	c.lastCRDChange.Store(time.Now().UnixNano())
	c.requestResync()
}

// unknownKind asks for rediscovery, unless discovery was read very recently: a reference to a kind
// that is never served must not make the collector read discovery continuously.
func (c *collector) unknownKind() {
	if time.Since(time.Unix(0, c.lastResync.Load())) >= unknownKindResyncInterval {
		c.requestResync()
	}
}

func (c *collector) requestResync() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *collector) resyncLoop(ctx context.Context) {
	logger := log.FromContext(ctx)
	for {
		period := c.resyncPeriod
		if time.Since(time.Unix(0, c.lastCRDChange.Load())) < crdSettleWindow {
			period = time.Second
		}
		timer := time.NewTimer(period)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-c.kick:
			timer.Stop()
		case <-timer.C:
		}
		if err := c.resync(ctx); err != nil {
			logger.Error(err, "Rediscovering resources")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(minResyncInterval):
		}
	}
}

// resync reads discovery, refreshes the REST mapper and starts or stops monitors to match. A partial
// discovery failure keeps the monitors of the groups that failed.
func (c *collector) resync(ctx context.Context) error {
	c.lastResync.Store(time.Now().UnixNano())
	groups, lists, err := c.discovery.ServerGroupsAndResourcesWithContext(ctx)
	if len(lists) == 0 {
		if err == nil {
			err = errors.New("no resources")
		}
		return fmt.Errorf("discover resources: %w", err)
	}
	failed, partial := discovery.GroupDiscoveryFailedErrorGroups(err)
	if err != nil && !partial {
		return fmt.Errorf("discover resources: %w", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groupResources(groups, lists))
	if len(failed) == 0 {
		c.lastCompleteMapper = mapper
	} else if c.lastCompleteMapper != nil {
		mapper = meta.MultiRESTMapper{mapper, c.lastCompleteMapper}
	}
	c.mapper.Store(&mapper)
	started, stopped, serr := c.monitors.sync(ctx, deletableResources(groups, lists), func(gvr schema.GroupVersionResource) bool {
		_, failedGroup := failed[gvr.GroupVersion()]
		return failedGroup
	})
	if started > 0 || stopped > 0 {
		log.FromContext(ctx).V(1).Info("Resources to watch changed", "started", started, "stopped", stopped)
	}
	return errors.Join(serr, err)
}

// processChanges applies events to the graph, one at a time, and hands the consequences to workers.
func (c *collector) processChanges() {
	for {
		ev, quit := c.changes.Get()
		if quit {
			return
		}
		fx := c.graph.apply(ev)
		c.changes.Done(ev)
		// Absent owners first, so that workers find them when they look at the dependents.
		for _, r := range fx.absent {
			c.absent.Add(r, struct{}{})
		}
		for _, inv := range fx.invalid {
			c.recordInvalidNamespace(inv.dependent, inv.owner)
		}
		for _, uid := range fx.attemptToDelete {
			c.attemptToDelete.Add(uid)
		}
		for _, uid := range fx.attemptToDeleteLater {
			c.attemptToDelete.AddRateLimited(uid)
		}
		for _, uid := range fx.attemptToOrphan {
			c.attemptToOrphan.Add(uid)
		}
	}
}

// recordInvalidNamespace tells the owner of dependent that its reference to owner cannot be right.
func (c *collector) recordInvalidNamespace(dependent, owner objectRef) {
	ref := &corev1.ObjectReference{Kind: dependent.Kind, APIVersion: dependent.APIVersion, Namespace: dependent.Namespace,
		Name: dependent.Name, UID: dependent.UID}
	c.recorder.Eventf(ref, corev1.EventTypeWarning, "OwnerRefInvalidNamespace", "ownerRef %s does not exist in namespace %q",
		owner, dependent.Namespace)
}

// enqueueVirtualDelete tells the graph that the object with ref's coordinates does not exist.
func (c *collector) enqueueVirtualDelete(ref objectRef) {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	c.changes.Add(&event{typ: deleteEvent, virtual: true, gvk: gv.WithKind(ref.Kind),
		obj: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID}}})
}

func (c *collector) processAttemptToDelete(ctx context.Context) bool {
	uid, quit := c.attemptToDelete.Get()
	if quit {
		return false
	}
	defer c.attemptToDelete.Done(uid)
	item, ok := c.graph.view(uid)
	if !ok {
		// Gone from the graph since it was queued: its deletion was seen and handled.
		c.attemptToDelete.Forget(uid)
		return true
	}
	err := c.attemptToDeleteItem(ctx, item)
	switch {
	case errors.Is(err, errVirtualDeleteQueued), errors.Is(err, errClusterScopedWithNamespacedOwner):
		c.attemptToDelete.Forget(uid)
	case err != nil:
		log.FromContext(ctx).Error(err, "Collecting garbage", "item", item.identity.String())
		c.attemptToDelete.AddRateLimited(uid)
	case item.virtual:
		// Exists but not seen by an informer yet: look again until it is (or proves absent).
		c.attemptToDelete.AddRateLimited(uid)
	default:
		c.attemptToDelete.Forget(uid)
	}
	return true
}

// attemptToDeleteItem reads item from the API and deletes it if all its owners are gone, drops its
// references to owners that are gone if some remain, or, when item itself waits in the foreground,
// pushes its blocking dependents along or releases it.
func (c *collector) attemptToDeleteItem(ctx context.Context, item nodeView) error {
	if item.beingDeleted && !item.deletingDependents {
		// Already on its way out; its dependents are handled when its deletion is seen.
		return nil
	}
	latest, err := c.get(ctx, item.identity)
	switch {
	case apierrors.IsNotFound(err):
		c.enqueueVirtualDelete(item.identity)
		return errVirtualDeleteQueued
	case err != nil:
		return err
	case latest.UID != item.identity.UID:
		c.enqueueVirtualDelete(item.identity)
		return errVirtualDeleteQueued
	}
	if item.deletingDependents {
		return c.processDeletingDependents(ctx, item)
	}
	refs := latest.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	var classified classifiedRefs
	for _, ref := range refs {
		state, err := c.ownerState(ctx, item.identity, ref)
		if err != nil {
			return err
		}
		classified.add(ref, state)
	}
	hasDependents, dependentWaiting := false, false
	if len(classified.solid) == 0 && len(classified.waiting) > 0 {
		for _, d := range c.graph.dependents(item.identity.UID) {
			hasDependents = true
			dependentWaiting = dependentWaiting || d.deletingDependents
		}
	}
	d := decide(latest.GetFinalizers(), classified, hasDependents, dependentWaiting)
	logger := log.FromContext(ctx).WithValues("item", item.identity.String())
	switch {
	case len(d.removeRefs) > 0:
		logger.V(1).Info("Removing references to absent or waiting owners", "owners", d.removeRefs)
		smp, err := removeOwnersStrategic(item.identity.UID, d.removeRefs)
		if err != nil {
			return err
		}
		return c.patch(ctx, item.identity, smp, func(latest metav1.Object) ([]byte, error) {
			return removeOwnersMerge(latest, d.removeRefs)
		})
	case d.delete:
		if d.unblock {
			// An owner and a dependent both wait in the foreground: unblock to avoid a deadlock.
			smp, err := unblockOwnersStrategic(item.identity.UID, refs)
			if err != nil {
				return err
			}
			if err := c.patch(ctx, item.identity, smp, unblockOwnersMerge); err != nil {
				return err
			}
		}
		logger.V(1).Info("Deleting garbage", "propagationPolicy", d.policy)
		err := c.deleteObject(ctx, item.identity, latest, d.policy)
		if apierrors.IsNotFound(err) {
			c.enqueueVirtualDelete(item.identity)
			return errVirtualDeleteQueued
		}
		return err
	}
	return nil
}

// ownerState asks the API (or the cache of absent owners) what became of the owner ref names.
func (c *collector) ownerState(ctx context.Context, item objectRef, ref metav1.OwnerReference) (ownerState, error) {
	key := refOf(ref, "")
	if _, ok := c.absent.Get(key); ok {
		return ownerDangling, nil
	}
	key.Namespace = item.Namespace
	if _, ok := c.absent.Get(key); ok {
		return ownerDangling, nil
	}
	resource, namespaced, err := c.resourceFor(ref.APIVersion, ref.Kind)
	if err != nil {
		return 0, err
	}
	if !namespaced {
		key.Namespace = ""
	}
	if namespaced && item.Namespace == "" {
		c.recordInvalidNamespace(item, refOf(ref, ""))
		return 0, errClusterScopedWithNamespacedOwner
	}
	owner, err := c.metadata.Resource(resource).Namespace(key.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.absent.Add(key, struct{}{})
		return ownerDangling, nil
	case err != nil:
		return 0, fmt.Errorf("get owner %s: %w", key, err)
	case owner.UID != ref.UID:
		c.absent.Add(key, struct{}{})
		return ownerDangling, nil
	}
	return stateOfOwner(owner), nil
}

// processDeletingDependents releases an owner waiting in the foreground once no dependent blocks it,
// and otherwise makes sure each blocking dependent is on its way.
func (c *collector) processDeletingDependents(ctx context.Context, item nodeView) error {
	blocking := c.graph.blockingDependents(item.identity.UID)
	if len(blocking) == 0 {
		log.FromContext(ctx).V(1).Info("Removing the foregroundDeletion finalizer", "item", item.identity.String())
		return c.removeFinalizer(ctx, item.identity, metav1.FinalizerDeleteDependents)
	}
	for _, d := range blocking {
		if !d.deletingDependents {
			c.attemptToDelete.Add(d.identity.UID)
		}
	}
	return nil
}

func (c *collector) processAttemptToOrphan(ctx context.Context) bool {
	uid, quit := c.attemptToOrphan.Get()
	if quit {
		return false
	}
	defer c.attemptToOrphan.Done(uid)
	owner, ok := c.graph.view(uid)
	if !ok {
		c.attemptToOrphan.Forget(uid)
		return true
	}
	if err := c.orphanDependents(ctx, owner); err != nil {
		log.FromContext(ctx).Error(err, "Orphaning dependents", "owner", owner.identity.String())
		c.attemptToOrphan.AddRateLimited(uid)
		return true
	}
	c.attemptToOrphan.Forget(uid)
	return true
}

// orphanDependents removes owner's reference from each of its dependents, then owner's orphan
// finalizer, which lets the API server delete it.
func (c *collector) orphanDependents(ctx context.Context, owner nodeView) error {
	deps := c.graph.dependents(owner.identity.UID)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, orphanParallelism)
	)
	for _, d := range deps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			smp, err := removeOwnersStrategic(d.identity.UID, []types.UID{owner.identity.UID})
			if err == nil {
				err = c.patch(ctx, d.identity, smp, func(latest metav1.Object) ([]byte, error) {
					return removeOwnersMerge(latest, []types.UID{owner.identity.UID})
				})
			}
			if err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("orphan %s: %w", d.identity, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.removeFinalizer(ctx, owner.identity, metav1.FinalizerOrphanDependents)
}

// orphanParallelism bounds the patches one owner's orphaning sends at once.
const orphanParallelism = 16
