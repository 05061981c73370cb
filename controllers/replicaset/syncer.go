package replicaset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// DefaultBurstReplicas is the most pods one sync creates or deletes, as upstream's burstReplicas.
const DefaultBurstReplicas = 500

// noController is the index value of pods that have no controller.
const noController = "-"

// IndexPodsByController adds to indexer a field index named name of pods by the UID of their controller
// ("-" for orphans), which a Syncer lists the pods of its owners with.
func IndexPodsByController(ctx context.Context, indexer client.FieldIndexer, name string) error {
	return indexer.IndexField(ctx, &corev1.Pod{}, name, func(obj client.Object) []string {
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
			return []string{string(ref.UID)}
		}
		return []string{noController}
	})
}

// SyncerOptions configure a Syncer.
type SyncerOptions struct {
	// Client reads through the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads around the cache: an owner is read fresh before it adopts pods.
	APIReader client.Reader
	// Recorder records events on the owners.
	Recorder record.EventRecorder
	// Kind is the kind of the owners, written into the ownerReferences of their pods.
	Kind schema.GroupVersionKind
	// PodIndex is the name of the pod index made by IndexPodsByController.
	PodIndex string
	// BurstReplicas is the most pods one sync creates or deletes (default DefaultBurstReplicas).
	BurstReplicas int
	// RelatedPods, if set, returns the pods of the owners that share owner's controller, the more of which
	// run on a pod's node the sooner it goes when scaling down.
	RelatedPods func(ctx context.Context, owner client.Object) ([]*corev1.Pod, error)
}

// Syncer makes the pods of one replica set match its spec and computes its status. Upstream runs
// replication controllers through the replica set code; here too the ReplicaSet and
// ReplicationController reconcilers share this code, each with a Syncer of its own kind, showing their
// objects to it as ReplicaSets.
type Syncer struct {
	opts         SyncerOptions
	expectations *expectations
	now          func() time.Time
}

// NewSyncer returns a Syncer of the kind opts names.
func NewSyncer(opts SyncerOptions) *Syncer {
	if opts.BurstReplicas <= 0 {
		opts.BurstReplicas = DefaultBurstReplicas
	}
	return &Syncer{opts: opts, expectations: newExpectations(time.Now), now: time.Now}
}

// Forget drops the memory of an owner that is gone.
func (s *Syncer) Forget(owner types.NamespacedName) {
	s.expectations.forget(owner)
}

// Sync adopts and releases the pods of owner, whose spec rs shows, creates or deletes pods until their
// number matches its replicas, and returns rs's new status, and when to sync again if time alone will
// change that status (minReadySeconds, expectations that timed out). Pods are neither created nor
// deleted while owner is being deleted, nor while the cache has not yet shown the last sync's work.
func (s *Syncer) Sync(ctx context.Context, owner client.Object, rs *appsv1.ReplicaSet) (appsv1.ReplicaSetStatus, time.Duration, error) {
	key := client.ObjectKeyFromObject(owner)
	// Checked before listing: what the events behind satisfied expectations told is in the cache.
	satisfied, expiresIn := s.expectations.satisfied(key)

	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err == nil && (rs.Spec.Selector == nil || selector.Empty()) {
		err = errors.New("the selector is empty")
	}
	if err != nil {
		// The API server refuses such selectors; retrying would not make one valid.
		log.FromContext(ctx).Info("Not syncing: invalid selector", "error", err.Error())
		return rs.Status, 0, nil
	}
	owned, orphans, err := s.listPods(ctx, owner, selector)
	if err != nil {
		return rs.Status, 0, err
	}
	var candidates, terminating []*corev1.Pod
	for _, pod := range owned {
		if isActive(pod) {
			candidates = append(candidates, pod)
		} else if isTerminating(pod) && selector.Matches(labels.Set(pod.Labels)) {
			terminating = append(terminating, pod)
		}
	}
	for _, pod := range orphans {
		if isActive(pod) {
			candidates = append(candidates, pod)
		}
	}
	pods, err := s.claim(ctx, owner, selector, candidates)
	if err != nil {
		return rs.Status, 0, err
	}

	var manageErr error
	if satisfied && owner.GetDeletionTimestamp() == nil {
		var deleted map[types.UID]bool
		deleted, manageErr = s.manage(ctx, owner, rs, pods)
		if len(deleted) > 0 {
			// The deleted pods are gone, or terminating: no longer replicas.
			var kept []*corev1.Pod
			for _, pod := range pods {
				if !deleted[pod.UID] {
					kept = append(kept, pod)
				}
			}
			pods = kept
		}
	}
	now := s.now()
	status := calculateStatus(rs, pods, terminating, manageErr, now)
	var after time.Duration
	if manageErr == nil {
		after = untilNextAvailable(pods, rs.Spec.MinReadySeconds, now)
	}
	if !satisfied && (after == 0 || expiresIn < after) {
		after = expiresIn
	}
	return status, after, manageErr
}

// listPods lists from the cache the pods owner controls and the orphans its selector matches.
func (s *Syncer) listPods(ctx context.Context, owner client.Object, selector labels.Selector) (owned, orphans []*corev1.Pod, err error) {
	var list corev1.PodList
	if err := s.opts.Client.List(ctx, &list, client.InNamespace(owner.GetNamespace()),
		client.MatchingFields{s.opts.PodIndex: string(owner.GetUID())}); err != nil {
		return nil, nil, fmt.Errorf("list pods: %w", err)
	}
	for i := range list.Items {
		owned = append(owned, &list.Items[i])
	}
	list = corev1.PodList{}
	if err := s.opts.Client.List(ctx, &list, client.InNamespace(owner.GetNamespace()),
		client.MatchingFields{s.opts.PodIndex: noController}, client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, nil, fmt.Errorf("list orphan pods: %w", err)
	}
	for i := range list.Items {
		orphans = append(orphans, &list.Items[i])
	}
	return owned, orphans, nil
}

// claim returns the pods owner keeps: those it controls that its selector still matches, and the
// orphans it matches, which it adopts. It releases the pods it controls that its selector no longer
// matches. An owner being deleted neither adopts nor releases.
func (s *Syncer) claim(ctx context.Context, owner client.Object, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var claimed []*corev1.Pod
	var errs []error
	deleting := owner.GetDeletionTimestamp() != nil
	canAdopt := sync.OnceValue(func() error { return s.recheck(ctx, owner) })
	for _, pod := range pods {
		matches := selector.Matches(labels.Set(pod.Labels))
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref != nil && ref.UID != owner.GetUID():
			// Another controller's.
		case ref != nil && matches:
			claimed = append(claimed, pod)
		case ref != nil:
			if deleting {
				continue
			}
			err := s.opts.Client.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, releasePatch(string(owner.GetUID()), string(pod.UID))))
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("release pod %s: %w", pod.Name, err))
			}
		case deleting || !matches || pod.DeletionTimestamp != nil:
		default:
			if err := canAdopt(); err != nil {
				errs = append(errs, fmt.Errorf("adopt pod %s: %w", pod.Name, err))
				continue
			}
			ref := metav1.NewControllerRef(owner, s.opts.Kind)
			err := s.opts.Client.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, ownerRefPatch(*ref, string(pod.UID))))
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs = append(errs, fmt.Errorf("adopt pod %s: %w", pod.Name, err))
			default:
				claimed = append(claimed, pod)
			}
		}
	}
	return claimed, errors.Join(errs...)
}

// recheck reads owner fresh from the API before it adopts anything: an owner the cache still shows may
// have been deleted, or deleted and made again, meanwhile.
func (s *Syncer) recheck(ctx context.Context, owner client.Object) error {
	fresh := owner.DeepCopyObject().(client.Object)
	if err := s.opts.APIReader.Get(ctx, client.ObjectKeyFromObject(owner), fresh); err != nil {
		return err
	}
	if fresh.GetUID() != owner.GetUID() {
		return fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s", s.opts.Kind.Kind,
			owner.GetNamespace(), owner.GetName(), fresh.GetUID(), owner.GetUID())
	}
	if fresh.GetDeletionTimestamp() != nil {
		return fmt.Errorf("%s %s/%s has just been deleted at %v", s.opts.Kind.Kind, owner.GetNamespace(),
			owner.GetName(), fresh.GetDeletionTimestamp())
	}
	return nil
}

// manage creates or deletes pods until their number matches rs's replicas, at most BurstReplicas at a
// time, and returns the pods it deleted.
func (s *Syncer) manage(ctx context.Context, owner client.Object, rs *appsv1.ReplicaSet, pods []*corev1.Pod) (map[types.UID]bool, error) {
	key, uid := client.ObjectKeyFromObject(owner), owner.GetUID()
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		n := min(-diff, s.opts.BurstReplicas)
		log.FromContext(ctx).V(1).Info("Too few replicas", "need", replicas(rs), "creating", n)
		s.expectations.expectCreations(key, uid, n)
		ref := metav1.NewControllerRef(owner, s.opts.Kind)
		created, err := slowStartBatch(n, slowStartInitialBatchSize, func() error {
			return s.createPod(ctx, owner, rs, ref)
		})
		// The creations never tried or failed will not be seen.
		for range n - created {
			s.expectations.creationObserved(key, uid)
		}
		return nil, err

	case diff > 0:
		n := min(diff, s.opts.BurstReplicas)
		log.FromContext(ctx).V(1).Info("Too many replicas", "need", replicas(rs), "deleting", n)
		var related []*corev1.Pod
		if s.opts.RelatedPods != nil {
			var err error
			if related, err = s.opts.RelatedPods(ctx, owner); err != nil {
				return nil, fmt.Errorf("list related pods: %w", err)
			}
		}
		victims := podsToDelete(pods, related, n, s.now())
		keys := make([]types.NamespacedName, len(victims))
		for i, pod := range victims {
			keys[i] = client.ObjectKeyFromObject(pod)
		}
		s.expectations.expectDeletions(key, uid, keys)

		var mu sync.Mutex
		deleted := map[types.UID]bool{}
		var errs []error
		var wg sync.WaitGroup
		for _, pod := range victims {
			wg.Go(func() {
				err := s.deletePod(ctx, owner, pod)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					deleted[pod.UID] = true
				case apierrors.IsNotFound(err):
					deleted[pod.UID] = true
					s.expectations.deletionObserved(key, uid, client.ObjectKeyFromObject(pod))
				default:
					s.expectations.deletionObserved(key, uid, client.ObjectKeyFromObject(pod))
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			// They are likely all alike: the first says it.
			return deleted, errs[0]
		}
		return deleted, nil
	}
	return nil, nil
}

func (s *Syncer) createPod(ctx context.Context, owner client.Object, rs *appsv1.ReplicaSet, ref *metav1.OwnerReference) error {
	pod := podFromTemplate(&rs.Spec.Template, owner.GetNamespace(), owner.GetName(), ref)
	if len(pod.Labels) == 0 {
		err := errors.New("unable to create pods, no labels")
		s.opts.Recorder.Eventf(owner, corev1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
		return err
	}
	if err := s.opts.Client.Create(ctx, pod); err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Every creation in a namespace being deleted fails; nothing to retry or report.
			s.expectations.creationObserved(client.ObjectKeyFromObject(owner), owner.GetUID())
			return nil
		}
		s.opts.Recorder.Eventf(owner, corev1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("create pod: %w", err)
	}
	s.opts.Recorder.Eventf(owner, corev1.EventTypeNormal, reasonSuccessfulCreate, "Created pod: %v", pod.Name)
	return nil
}

func (s *Syncer) deletePod(ctx context.Context, owner client.Object, pod *corev1.Pod) error {
	// The UID precondition spares a pod of the same name made meanwhile.
	err := s.opts.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
	switch {
	case err == nil:
		s.opts.Recorder.Eventf(owner, corev1.EventTypeNormal, reasonSuccessfulDelete, "Deleted pod: %v", pod.Name)
		return nil
	case apierrors.IsNotFound(err):
		return err
	default:
		s.opts.Recorder.Eventf(owner, corev1.EventTypeWarning, reasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
}

// PodHandler returns the handler of pod events for the controller of the Syncer's kind: it counts the
// creations and deletions the expectations wait for and enqueues the pod's controller, or, for an
// orphan whose labels changed, the owners orphanOwners says match it and may adopt it.
func (s *Syncer) PodHandler(orphanOwners func(ctx context.Context, pod *corev1.Pod) []reconcile.Request) handler.EventHandler {
	return &podHandler{s: s, orphanOwners: orphanOwners}
}

type podHandler struct {
	s            *Syncer
	orphanOwners func(ctx context.Context, pod *corev1.Pod) []reconcile.Request
}

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// controllerOf is the pod's controller reference when it is of the Syncer's kind.
func (h *podHandler) controllerOf(pod *corev1.Pod) *metav1.OwnerReference {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != h.s.opts.Kind.Kind {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != h.s.opts.Kind.Group {
		return nil
	}
	return ref
}

func request(namespace, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}

func (h *podHandler) Create(ctx context.Context, e event.CreateEvent, q queue) {
	pod, ok := e.Object.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (after a restart of the watch).
		h.deleted(pod, q)
		return
	}
	if ref := h.controllerOf(pod); ref != nil {
		h.s.expectations.creationObserved(types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}, ref.UID)
		q.Add(request(pod.Namespace, ref.Name))
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		for _, r := range h.orphanOwners(ctx, pod) {
			q.Add(r)
		}
	}
}

func (h *podHandler) Update(ctx context.Context, e event.UpdateEvent, q queue) {
	old, ok1 := e.ObjectOld.(*corev1.Pod)
	cur, ok2 := e.ObjectNew.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// A graceful deletion: the owner replaces the pod now rather than when it is finally gone.
		h.deleted(cur, q)
		if labelsChanged {
			h.deleted(old, q)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if ref := h.controllerOf(old); refChanged && ref != nil {
		q.Add(request(old.Namespace, ref.Name))
	}
	if curRef != nil {
		if ref := h.controllerOf(cur); ref != nil {
			q.Add(request(cur.Namespace, ref.Name))
		}
		return
	}
	if labelsChanged || refChanged {
		for _, r := range h.orphanOwners(ctx, cur) {
			q.Add(r)
		}
	}
}

func (h *podHandler) Delete(ctx context.Context, e event.DeleteEvent, q queue) {
	if pod, ok := e.Object.(*corev1.Pod); ok {
		h.deleted(pod, q)
	}
}

func (h *podHandler) Generic(ctx context.Context, e event.GenericEvent, q queue) {}

// deleted counts the deletion of pod for its controller and enqueues it. An orphan's deletion matters
// to no one.
func (h *podHandler) deleted(pod *corev1.Pod, q queue) {
	ref := h.controllerOf(pod)
	if ref == nil {
		return
	}
	owner := types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}
	h.s.expectations.deletionObserved(owner, ref.UID, client.ObjectKeyFromObject(pod))
	q.Add(reconcile.Request{NamespacedName: owner})
}
