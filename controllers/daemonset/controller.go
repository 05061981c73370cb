// Package daemonset runs DaemonSets: one pod on every eligible node, as upstream's daemon controller
// (k8s.io/kubernetes pkg/controller/daemon).
//
// A node is eligible when the pod template's node name (if any), node selector, required node affinity
// and tolerations fit it; daemon pods also tolerate, as upstream, a node that is not ready, unreachable,
// under disk, memory or PID pressure, or cordoned (and, on the host network, without a pod network).
// Each pod is made with a required node affinity on its node's name, so that the scheduler binds it
// there. The controller follows the nodes: a new eligible node gets a pod; a node that stops being
// eligible loses it (unless only a NoSchedule taint is new: running pods stay); surplus pods on a node
// are deleted, keeping the oldest; a failed pod is deleted to be made again, with a backoff per node.
//
// Every state of the pod template is recorded as a ControllerRevision (see package history) and pods
// carry its hash in the controller-revision-hash label. The RollingUpdate strategy replaces old pods
// while at most maxUnavailable nodes lack an available pod, or, with maxSurge, starts the new pod beside
// the old one and deletes the old one once the new one is available; under OnDelete, pods change only
// when someone deletes them. The status counts the nodes that should run a pod, run one, run one that is
// ready, available and updated, and run one they should not.
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/skiffhq/skiff/controllers/internal/history"
	"github.com/skiffhq/skiff/controllers/internal/ownership"
)

const (
	// ownerIndex indexes pods by the UID of the DaemonSet that controls them.
	ownerIndex = "daemonset.controllerUID"
	// burstReplicas caps the pods one sync creates or deletes, as upstream.
	burstReplicas = 250
	// failedPodBackoff and maxFailedPodBackoff bound the wait before a node's failed pod is deleted
	// again, so that a pod its node keeps rejecting is not recreated in a hot loop.
	failedPodBackoff    = time.Second
	maxFailedPodBackoff = 15 * time.Minute
)

// Reconciler keeps one pod of each DaemonSet on every eligible node.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// MaxConcurrentReconciles is how many DaemonSets are synced at once (default 2, as upstream).
	MaxConcurrentReconciles int

	reader       client.Reader
	history      history.Store
	expectations *expectations
	// failedBackoff delays the deletion of failed pods per DaemonSet and node.
	failedBackoff *flowcontrol.Backoff
}

// SetupWithManager registers the reconciler: it runs for DaemonSets, for changes of their pods and
// revisions, for orphan pods a selector may adopt, and for nodes that come, go or change labels or taints.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("daemonset-controller")
	}
	r.reader = mgr.GetAPIReader()
	r.history = history.Store{Client: r.Client}
	r.expectations = newExpectations()
	r.failedBackoff = flowcontrol.NewBackOff(failedPodBackoff, maxFailedPodBackoff)
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 2
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, ownerIndex, func(obj client.Object) []string {
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.Kind == dsKind.Kind && ref.APIVersion == dsKind.GroupVersion().String() {
			return []string{string(ref.UID)}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index pods by daemonset: %w", err)
	}
	// Backoff entries of nodes whose pods stopped failing are dropped now and then.
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		ticker := time.NewTicker(time.Minute)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
				r.failedBackoff.GC()
			}
		}
	}))
	if err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("daemonset").
		For(&appsv1.DaemonSet{}).
		Owns(&appsv1.ControllerRevision{}).
		Watches(&corev1.Pod{}, r.podHandler()).
		Watches(&corev1.Node{}, r.nodeHandler()).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// Reconcile syncs one DaemonSet: adopts its orphaned revisions and pods, records its template as a
// revision, creates and deletes pods node by node, rolls out updates, deletes old revisions and
// reports the status. While the cache has not shown the pods its last sync created or deleted, it only
// reports the status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ds := &appsv1.DaemonSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, ds); err != nil {
		if apierrors.IsNotFound(err) {
			r.expectations.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || ds.Spec.Selector == nil {
		// The API refuses such selectors; retrying cannot help.
		log.FromContext(ctx).Error(err, "daemonset has no valid selector, skipping it")
		return ctrl.Result{}, nil
	}
	if selector.Empty() {
		r.Recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return ctrl.Result{}, nil
	}
	if ds.DeletionTimestamp != nil {
		// Its revisions may be going already; nothing tells the current hash reliably.
		return ctrl.Result{}, nil
	}
	var nodeList corev1.NodeList
	if err := r.Client.List(ctx, &nodeList); err != nil {
		return ctrl.Result{}, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make([]*corev1.Node, len(nodeList.Items))
	for i := range nodeList.Items {
		nodes[i] = &nodeList.Items[i]
	}

	adopt := ownership.NewAdoption(r.reader, ds, dsKind, &appsv1.DaemonSet{})
	revisions, err := r.revisions(ctx, ds, selector, adopt)
	if err != nil {
		return ctrl.Result{}, err
	}
	pods, err := ownership.PodClaim{Client: r.Client, Owner: ds, Kind: dsKind, Selector: selector, OwnerIndex: ownerIndex,
		Adoption: adopt}.Claim(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	var collisionCount int32
	if ds.Status.CollisionCount != nil {
		collisionCount = *ds.Status.CollisionCount
	}
	data, err := history.TemplatePatch(ds)
	if err != nil {
		return ctrl.Result{}, err
	}
	current, err := r.history.Current(ctx, ds, dsKind, ds.Spec.Template.Labels, data, revisions, &collisionCount)
	if err != nil {
		return ctrl.Result{}, err
	}
	hash := hashOf(current)

	now := time.Now()
	byNode := podsByNode(pods)
	var retry time.Duration
	var syncErr error
	observed := r.expectations.satisfied(req.NamespacedName, now)
	if observed {
		retry, syncErr = r.sync(ctx, ds, nodes, byNode, hash, now)
		if syncErr == nil {
			syncErr = r.cleanupHistory(ctx, ds, pods, revisions, current)
		}
	}

	status := computeStatus(ds, nodes, byNode, hash, now)
	if observed {
		status.ObservedGeneration = ds.Generation
	}
	if collisionCount != 0 || ds.Status.CollisionCount != nil {
		status.CollisionCount = &collisionCount
	}
	if err := errors.Join(syncErr, r.writeStatus(ctx, ds, status)); err != nil {
		return ctrl.Result{}, err
	}
	if ds.Spec.MinReadySeconds > 0 {
		if d := nextAvailability(ds, pods, now); d > 0 && (retry == 0 || d < retry) {
			retry = d
		}
	}
	if !observed && retry == 0 {
		// The pod events normally end the wait; should one be lost, the expectations expire.
		retry = expectationsTTL
	}
	return ctrl.Result{RequeueAfter: retry}, nil
}

// sync creates and deletes pods node by node, then, if that needed no writes, makes a step of the
// rolling update. It returns when failed pods held back by their backoff may be deleted.
func (r *Reconciler) sync(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod,
	hash string, now time.Time) (time.Duration, error) {
	d := manage(ds, nodes, byNode, hash, now)
	remove := d.remove
	var retry time.Duration
	for _, f := range d.failed {
		key := fmt.Sprintf("%s/%s/%s", ds.Namespace, ds.Name, f.node)
		if r.failedBackoff.IsInBackOffSinceUpdate(key, now) {
			if delay := r.failedBackoff.Get(key); retry == 0 || delay < retry {
				retry = delay
			}
			continue
		}
		r.failedBackoff.Next(key, now)
		r.Recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod",
			"Found failed daemon pod %s/%s on node %s, will try to kill it", f.pod.Namespace, f.pod.Name, f.node)
		remove = append(remove, f.pod)
	}
	if err := r.syncNodes(ctx, ds, remove, d.createOn, hash); err != nil {
		return retry, err
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType ||
		!r.expectations.satisfied(client.ObjectKeyFromObject(ds), now) {
		return retry, nil
	}
	old, surge := rollingUpdate(ds, nodes, byNode, hash, now)
	return retry, r.syncNodes(ctx, ds, old, surge, hash)
}

// syncNodes deletes pods and creates pods on nodes, at most burstReplicas of each, expecting the
// cache to show them before the next sync acts. Creations go in batches doubling from one, so that a
// creation that keeps failing (a quota) stops early.
func (r *Reconciler) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, remove []*corev1.Pod, createOn []string, hash string) error {
	if len(remove) == 0 && len(createOn) == 0 {
		return nil
	}
	log.FromContext(ctx).V(1).Info("sync nodes", "create", len(createOn), "delete", len(remove))
	key := client.ObjectKeyFromObject(ds)
	remove = remove[:min(len(remove), burstReplicas)]
	createOn = createOn[:min(len(createOn), burstReplicas)]
	uids := make([]types.UID, len(remove))
	for i, pod := range remove {
		uids[i] = pod.UID
	}
	r.expectations.expect(key, len(createOn), uids, time.Now())

	template := podTemplate(ds, hash)
	var next atomic.Int32
	attempted, createErr := slowStart(len(createOn), func() error {
		node := createOn[next.Add(1)-1]
		pod := newPod(ds, template, node)
		if err := r.Client.Create(ctx, pod); err != nil {
			r.expectations.created(key)
			if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				r.Recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			}
			return fmt.Errorf("create pod of daemonset %s/%s for node %s: %w", ds.Namespace, ds.Name, node, err)
		}
		r.Recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", pod.Name)
		return nil
	})
	for i := attempted; i < len(createOn); i++ {
		// Never tried after a failing batch: no event will show them.
		r.expectations.created(key)
	}

	var wg sync.WaitGroup
	deleteErrs := make([]error, len(remove))
	for i, pod := range remove {
		wg.Go(func() {
			err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
			if err == nil {
				r.Recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
				return
			}
			r.expectations.deleted(key, pod.UID)
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return
			}
			r.Recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			deleteErrs[i] = fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
		})
	}
	wg.Wait()
	return errors.Join(append(deleteErrs, createErr)...)
}

// slowStart calls fn count times, concurrently in batches of 1, 2, 4, ..., stopping after a batch in
// which a call failed. It returns how many calls it made and their errors.
func slowStart(count int, fn func() error) (int, error) {
	attempted := 0
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-attempted) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		attempted += batch
		if err := errors.Join(errs...); err != nil {
			return attempted, err
		}
	}
	return attempted, nil
}

// cleanupHistory deletes old revisions beyond ds's revisionHistoryLimit, oldest first, keeping those
// a pod still runs.
func (r *Reconciler) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod,
	revisions []*appsv1.ControllerRevision, current *appsv1.ControllerRevision) error {
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	for _, rev := range expiredRevisions(revisions, current, pods, limit) {
		if err := r.history.Delete(ctx, rev); err != nil {
			return err
		}
	}
	return nil
}

// expiredRevisions picks, as upstream, the revisions other than current to delete so that at most
// limit of them remain: the oldest first, skipping those whose hash a pod carries.
func expiredRevisions(revisions []*appsv1.ControllerRevision, current *appsv1.ControllerRevision, pods []*corev1.Pod, limit int32) []*appsv1.ControllerRevision {
	var old []*appsv1.ControllerRevision
	for _, rev := range revisions {
		if rev.Name != current.Name {
			old = append(old, rev)
		}
	}
	excess := len(old) - int(max(limit, 0))
	if excess <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, pod := range pods {
		if h := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	history.Sort(old)
	var expired []*appsv1.ControllerRevision
	for _, rev := range old {
		if excess == 0 {
			break
		}
		if live[hashOf(rev)] {
			continue
		}
		expired = append(expired, rev)
		excess--
	}
	return expired
}

// hashOf is the hash a revision's pods carry in their controller-revision-hash label.
func hashOf(rev *appsv1.ControllerRevision) string {
	if h := rev.Labels[history.HashLabel]; h != "" {
		return h
	}
	if h := rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
		return h
	}
	return rev.Name
}

// revisions returns ds's revisions, sorted, adopting the orphans its selector matches.
func (r *Reconciler) revisions(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, adopt *ownership.Adoption) ([]*appsv1.ControllerRevision, error) {
	return r.history.Claim(ctx, ds, dsKind, selector, adopt.Allowed)
}

// writeStatus stores status if it differs from ds's. A conflict means ds changed since the cache showed
// it, and the change brings the next sync: it is not an error.
func (r *Reconciler) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, status appsv1.DaemonSetStatus) error {
	if equality.Semantic.DeepEqual(ds.Status, status) {
		return nil
	}
	updated := ds.DeepCopy()
	updated.Status = status
	err := r.Client.Status().Update(ctx, updated)
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}

// controllerKey is the DaemonSet controlling obj, if one does.
func controllerKey(obj client.Object) (types.NamespacedName, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != dsKind.Kind || ref.APIVersion != dsKind.GroupVersion().String() {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}, true
}

// podHandler maps pod events to the DaemonSets to sync, and tells the expectations what the cache now
// shows: a pod of a DaemonSet created, or going.
func (r *Reconciler) podHandler() handler.EventHandler {
	enqueueSelecting := func(ctx context.Context, pod client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		var list appsv1.DaemonSetList
		if err := r.Client.List(ctx, &list, client.InNamespace(pod.GetNamespace())); err != nil {
			log.FromContext(ctx).Error(err, "list daemonsets for an orphan pod", "pod", client.ObjectKeyFromObject(pod))
			return
		}
		for i := range list.Items {
			selector, err := metav1.LabelSelectorAsSelector(list.Items[i].Spec.Selector)
			if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.GetLabels())) {
				continue
			}
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			key, ok := controllerKey(e.Object)
			if !ok {
				if metav1.GetControllerOfNoCopy(e.Object) == nil {
					enqueueSelecting(ctx, e.Object, q)
				}
				return
			}
			if e.Object.GetDeletionTimestamp() != nil {
				// Seen for the first time already going (after a restart): not a creation.
				r.expectations.deleted(key, e.Object.GetUID())
			} else {
				r.expectations.created(key)
			}
			q.Add(reconcile.Request{NamespacedName: key})
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldKey, oldOK := controllerKey(e.ObjectOld)
			newKey, newOK := controllerKey(e.ObjectNew)
			if oldOK && (!newOK || oldKey != newKey) {
				q.Add(reconcile.Request{NamespacedName: oldKey})
			}
			if newOK {
				if e.ObjectNew.GetDeletionTimestamp() != nil && e.ObjectOld.GetDeletionTimestamp() == nil {
					r.expectations.deleted(newKey, e.ObjectNew.GetUID())
				}
				q.Add(reconcile.Request{NamespacedName: newKey})
				return
			}
			if metav1.GetControllerOfNoCopy(e.ObjectNew) == nil &&
				(oldOK || !equality.Semantic.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())) {
				enqueueSelecting(ctx, e.ObjectNew, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if key, ok := controllerKey(e.Object); ok {
				r.expectations.deleted(key, e.Object.GetUID())
				q.Add(reconcile.Request{NamespacedName: key})
			}
		},
	}
}

// nodeHandler syncs every DaemonSet when a node comes or goes, or changes what decides where daemons
// run (its labels and taints); status heartbeats are ignored.
func (r *Reconciler) nodeHandler() handler.EventHandler {
	enqueueAll := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		var list appsv1.DaemonSetList
		if err := r.Client.List(ctx, &list); err != nil {
			log.FromContext(ctx).Error(err, "list daemonsets for a node change")
			return
		}
		for i := range list.Items {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, _ event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueAll(ctx, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldNode, okOld := e.ObjectOld.(*corev1.Node)
			newNode, okNew := e.ObjectNew.(*corev1.Node)
			if okOld && okNew && equality.Semantic.DeepEqual(oldNode.Labels, newNode.Labels) &&
				equality.Semantic.DeepEqual(oldNode.Spec.Taints, newNode.Spec.Taints) {
				return
			}
			enqueueAll(ctx, q)
		},
		DeleteFunc: func(ctx context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueAll(ctx, q)
		},
	}
}
