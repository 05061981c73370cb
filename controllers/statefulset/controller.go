// Package statefulset runs StatefulSets: pods with stable identities and storage, made and changed in
// order, as upstream's statefulset controller (k8s.io/kubernetes pkg/controller/statefulset).
//
// A StatefulSet of n replicas keeps pods named <set>-<ordinal> for the ordinals start..start+n-1
// (spec.ordinals.start, 0 by default). Each pod has its set's governing service (spec.serviceName) as
// subdomain and its own name as hostname, the labels statefulset.kubernetes.io/pod-name and
// apps.kubernetes.io/pod-index, and, for each of spec.volumeClaimTemplates, the claim
// <template>-<set>-<ordinal>, made before the pod and kept across its restarts. Under the OrderedReady
// pod management policy, pods are created in ordinal order, each once its predecessors are Running and
// Ready (and available for minReadySeconds), and removed in reverse order one at a time; under Parallel,
// all at once. A failed pod is deleted and made again.
//
// Every state of the pod template is recorded as a ControllerRevision (see package history): pods carry
// the name of theirs in the controller-revision-hash label, and the status reports the current revision
// (the pods' before an update) and the update revision (the template's). The RollingUpdate strategy
// deletes pods not at the update revision from the highest ordinal down to the partition, at most
// maxUnavailable at once, and they come back at the update revision; when all are updated and ready,
// the update revision becomes the current one. Under OnDelete, pods change revision only when someone
// deletes them.
//
// The claims' persistentVolumeClaimRetentionPolicy is carried out with owner references for the garbage
// collector: claims are owned by the set when whenDeleted is Delete, and by their pod when whenScaled is
// Delete and the pod is being scaled away.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/skiffhq/skiff/controllers/internal/history"
	"github.com/skiffhq/skiff/controllers/internal/ownership"
)

// ownerIndex indexes pods by the UID of the StatefulSet that controls them.
const ownerIndex = "statefulset.controllerUID"

// Reconciler keeps each StatefulSet's pods, claims and revisions as its spec says.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// MaxConcurrentReconciles is how many StatefulSets are synced at once (default 5, as upstream).
	MaxConcurrentReconciles int

	// reader reads around the cache, to check a set is still there before adopting for it.
	reader  client.Reader
	history history.Store
}

// SetupWithManager registers the reconciler: it runs for StatefulSets and for changes of their pods,
// claims and revisions, and for pods without controller that a set's selector may adopt.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("statefulset-controller")
	}
	r.reader = mgr.GetAPIReader()
	r.history = history.Store{Client: r.Client}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 5
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, ownerIndex, func(obj client.Object) []string {
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.Kind == setKind.Kind && ref.APIVersion == setKind.GroupVersion().String() {
			return []string{string(ref.UID)}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index pods by statefulset: %w", err)
	}
	return builder.ControllerManagedBy(mgr).
		Named("statefulset").
		For(&appsv1.StatefulSet{}).
		Owns(&appsv1.ControllerRevision{}).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.setsOfClaim)).
		Watches(&corev1.Pod{}, r.podHandler()).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// Reconcile syncs one StatefulSet: adopts its orphaned revisions and pods, records its template as a
// revision, makes the writes plan decides, reports the status and deletes revisions beyond the
// history limit.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	set := &appsv1.StatefulSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || set.Spec.Selector == nil || selector.Empty() {
		// The API refuses such selectors; retrying cannot help.
		log.FromContext(ctx).Error(err, "statefulset has no valid selector, skipping it")
		return ctrl.Result{}, nil
	}
	adopt := ownership.NewAdoption(r.reader, set, setKind, &appsv1.StatefulSet{})

	revisions, err := r.revisions(ctx, set, selector, adopt)
	if err != nil {
		return ctrl.Result{}, err
	}
	pods, err := ownership.PodClaim{Client: r.Client, Owner: set, Kind: setKind, Selector: selector, OwnerIndex: ownerIndex,
		Member: func(pod *corev1.Pod) bool { return isMemberOf(set, pod) }, Adoption: adopt}.Claim(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	claims, err := r.claims(ctx, set)
	if err != nil {
		return ctrl.Result{}, err
	}

	var collisionCount int32
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	data, err := history.TemplatePatch(set)
	if err != nil {
		return ctrl.Result{}, err
	}
	updateRevision, err := r.history.Current(ctx, set, setKind, set.Spec.Template.Labels, data, revisions, &collisionCount)
	if err != nil {
		return ctrl.Result{}, err
	}
	currentRevision := updateRevision
	for _, rev := range revisions {
		if rev.Name == set.Status.CurrentRevision {
			currentRevision = rev
			break
		}
	}
	currentSet, err := history.Apply(set, currentRevision)
	if err != nil {
		return ctrl.Result{}, err
	}
	updateSet, err := history.Apply(set, updateRevision)
	if err != nil {
		return ctrl.Result{}, err
	}

	w := world{
		set: set, currentSet: currentSet, updateSet: updateSet,
		currentRevision: currentRevision.Name, updateRevision: updateRevision.Name,
		pods: pods, claims: claims, now: time.Now(),
	}
	actErr := r.act(ctx, set, plan(w), claims)
	// The status is reported even when a write failed, as upstream.
	statusErr := r.writeStatus(ctx, set, computeStatus(w, collisionCount))
	historyErr := r.truncateHistory(ctx, set, pods, revisions, currentRevision, updateRevision)
	if err := errors.Join(actErr, statusErr, historyErr); err != nil {
		return ctrl.Result{}, err
	}
	if set.Spec.MinReadySeconds > 0 {
		if d := nextAvailability(set, pods, w.now); d > 0 {
			return ctrl.Result{RequeueAfter: d}, nil
		}
	}
	return ctrl.Result{}, nil
}

// revisions returns set's revisions, adopting the orphans its selector matches.
func (r *Reconciler) revisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector, adopt *ownership.Adoption) ([]*appsv1.ControllerRevision, error) {
	return r.history.Claim(ctx, set, setKind, selector, adopt.Allowed)
}

// claims returns the claims in set's namespace by name; none for a set without claim templates.
func (r *Reconciler) claims(ctx context.Context, set *appsv1.StatefulSet) (map[string]*corev1.PersistentVolumeClaim, error) {
	claims := map[string]*corev1.PersistentVolumeClaim{}
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return claims, nil
	}
	var list corev1.PersistentVolumeClaimList
	if err := r.Client.List(ctx, &list, client.InNamespace(set.Namespace)); err != nil {
		return nil, fmt.Errorf("list claims in %s: %w", set.Namespace, err)
	}
	for i := range list.Items {
		claims[list.Items[i].Name] = &list.Items[i]
	}
	return claims, nil
}

// act makes the planned writes in order, stopping at the first that fails.
func (r *Reconciler) act(ctx context.Context, set *appsv1.StatefulSet, steps []step, claims map[string]*corev1.PersistentVolumeClaim) error {
	logger := log.FromContext(ctx)
	for _, s := range steps {
		logger.V(1).Info("sync step", "action", s.action, "pod", s.pod.Name, "reason", s.why)
		var err error
		switch s.action {
		case createPod:
			err = r.createPod(ctx, set, s.pod, claims)
		case deletePod:
			err = r.deletePod(ctx, set, s.pod, s.why)
		case updatePod:
			err = r.updatePod(ctx, set, s.pod, claims)
		case createClaims:
			if err = r.createClaims(ctx, set, s.pod, claims); err == nil {
				err = r.setClaimOwners(ctx, set, s.pod, claims)
			}
			if err != nil {
				r.podEvent(set, "update", s.pod, err)
			}
		case fixClaims:
			err = r.setClaimOwners(ctx, set, s.pod, claims)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// createPod creates pod's claims, then pod.
func (r *Reconciler) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) error {
	if err := r.createClaims(ctx, set, pod, claims); err != nil {
		r.podEvent(set, "create", pod, err)
		return err
	}
	err := r.Client.Create(ctx, pod)
	if apierrors.IsAlreadyExists(err) {
		return r.alreadyExists(ctx, set, pod)
	}
	if err == nil {
		// Claims made before this sync got no reference to the pod, which did not exist.
		if err := r.setClaimOwners(ctx, set, pod, claims); err != nil {
			r.podEvent(set, "update", pod, err)
			return err
		}
	}
	r.podEvent(set, "create", pod, err)
	if err != nil {
		return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// alreadyExists explains a pod name already taken: by set's own pod the cache has not shown yet
// (nothing to do: its event brings the next sync), or by a pod set does not control, which blocks it.
func (r *Reconciler) alreadyExists(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	existing := &corev1.Pod{}
	if err := r.reader.Get(ctx, client.ObjectKeyFromObject(pod), existing); err != nil {
		return fmt.Errorf("get pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == set.UID {
		return nil
	}
	return fmt.Errorf("pod %s/%s exists and is not controlled by StatefulSet %s", pod.Namespace, pod.Name, set.Name)
}

// deletePod deletes pod, the very object planned (by UID): a pod already gone, or replaced under the same
// name since, is left alone.
func (r *Reconciler) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, reason why) error {
	switch reason {
	case forFailure:
		r.Recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingFailedPod",
			"StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, pod.Name)
	case forCompletion:
		r.Recorder.Eventf(set, corev1.EventTypeNormal, "RecreatingTerminatedPod",
			"StatefulSet %s/%s is recreating terminated Pod %s", set.Namespace, set.Name, pod.Name)
	}
	err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	r.podEvent(set, "delete", pod, err)
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// updatePod restores pod's identity and storage, and its claims' owners.
func (r *Reconciler) updatePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) error {
	pod = pod.DeepCopy()
	changed := false
	if !identityMatches(set, pod) {
		updateIdentity(set, pod)
		changed = true
	}
	if !storageMatches(set, pod) {
		updateStorage(set, pod)
		changed = true
		if err := r.createClaims(ctx, set, pod, claims); err != nil {
			r.podEvent(set, "update", pod, err)
			return err
		}
	}
	if err := r.setClaimOwners(ctx, set, pod, claims); err != nil {
		r.podEvent(set, "update", pod, err)
		return err
	}
	if !changed {
		return nil
	}
	err := r.Client.Update(ctx, pod)
	if apierrors.IsConflict(err) {
		// The pod changed since the cache showed it; its event brings the next sync.
		return nil
	}
	r.podEvent(set, "update", pod, err)
	if err != nil {
		return fmt.Errorf("update pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// createClaims creates those of pod's claims that do not exist, owned as the retention policy says. A
// claim being deleted cannot be used: the pod waits until it is gone and made again.
func (r *Reconciler) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		if existing, ok := claims[claim.Name]; ok {
			if existing.DeletionTimestamp != nil {
				errs = append(errs, fmt.Errorf("claim %s is being deleted", claim.Name))
			}
			continue
		}
		setClaimOwners(claim, set, pod)
		err := r.Client.Create(ctx, claim)
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		r.claimEvent(set, "create", pod, claim, err)
		if err != nil {
			errs = append(errs, fmt.Errorf("create claim %s/%s: %w", claim.Namespace, claim.Name, err))
			continue
		}
		claims[claim.Name] = claim
	}
	return errors.Join(errs...)
}

// setClaimOwners gives pod's existing claims the owner references set's retention policy asks for.
func (r *Reconciler) setClaimOwners(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) error {
	for _, want := range claimsFor(set, pod) {
		claim, ok := claims[want.Name]
		if !ok {
			continue
		}
		if hasUnexpectedController(claim, set, pod) {
			r.Recorder.Eventf(set, corev1.EventTypeWarning, "ConflictingController",
				"PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a managing controller, the retention policy is ignored for this claim", claim.Name)
		}
		if claimOwnersUpToDate(claim, set, pod) {
			continue
		}
		claim = claim.DeepCopy()
		setClaimOwners(claim, set, pod)
		if err := r.Client.Update(ctx, claim); err != nil {
			return fmt.Errorf("update owners of claim %s/%s for the retention policy: %w", claim.Namespace, claim.Name, err)
		}
		claims[claim.Name] = claim
	}
	return nil
}

// writeStatus stores status if it differs from set's. A conflict means set changed since the cache
// showed it, and the change brings the next sync: it is not an error.
func (r *Reconciler) writeStatus(ctx context.Context, set *appsv1.StatefulSet, status appsv1.StatefulSetStatus) error {
	if equality.Semantic.DeepEqual(set.Status, status) {
		return nil
	}
	updated := set.DeepCopy()
	updated.Status = status
	err := r.Client.Status().Update(ctx, updated)
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}

// truncateHistory deletes the oldest revisions beyond set's revisionHistoryLimit that neither the status
// nor any pod refers to.
func (r *Reconciler) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod,
	revisions []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, pod := range pods {
		live[revisionOf(pod)] = true
	}
	limit := int32(10)
	if set.Spec.RevisionHistoryLimit != nil {
		limit = *set.Spec.RevisionHistoryLimit
	}
	for _, rev := range history.Expired(revisions, func(rev *appsv1.ControllerRevision) bool { return live[rev.Name] }, limit) {
		if err := r.history.Delete(ctx, rev); err != nil {
			return err
		}
	}
	return nil
}

// podEvent records verb done to pod, as upstream words it.
func (r *Reconciler) podEvent(set *appsv1.StatefulSet, verb string, pod *corev1.Pod, err error) {
	if err == nil {
		r.Recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title(verb),
			"%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name)
		return
	}
	r.Recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title(verb),
		"%s Pod %s in StatefulSet %s failed error: %s", verb, pod.Name, set.Name, err)
}

// claimEvent records verb done to a claim of pod, as upstream words it.
func (r *Reconciler) claimEvent(set *appsv1.StatefulSet, verb string, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		r.Recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title(verb),
			"%s Claim %s Pod %s in StatefulSet %s success", verb, claim.Name, pod.Name, set.Name)
		return
	}
	r.Recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title(verb),
		"%s Claim %s for Pod %s in StatefulSet %s failed error: %s", verb, claim.Name, pod.Name, set.Name, err)
}

func title(verb string) string {
	if verb == "" {
		return ""
	}
	return string(verb[0]-'a'+'A') + verb[1:]
}

// setsOfClaim maps a claim to the sets it belongs to: the set that controls it, or any set whose claim
// templates would have made a claim of its name (a claim owned by a pod, or by none, can hold up the
// creation of a pod while it is being deleted).
func (r *Reconciler) setsOfClaim(ctx context.Context, claim client.Object) []reconcile.Request {
	var sets appsv1.StatefulSetList
	if err := r.Client.List(ctx, &sets, client.InNamespace(claim.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list statefulsets for a claim", "claim", client.ObjectKeyFromObject(claim))
		return nil
	}
	var reqs []reconcile.Request
	for i := range sets.Items {
		set := &sets.Items[i]
		if metav1.IsControlledBy(claim, set) || madeFrom(set, claim.GetName()) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(set)})
		}
	}
	return reqs
}

// madeFrom tells whether a claim named name is one of set's: <template>-<set>-<ordinal>.
func madeFrom(set *appsv1.StatefulSet, name string) bool {
	for i := range set.Spec.VolumeClaimTemplates {
		rest, ok := strings.CutPrefix(name, set.Spec.VolumeClaimTemplates[i].Name+"-"+set.Name+"-")
		if n, err := strconv.Atoi(rest); ok && err == nil && n >= 0 && strconv.Itoa(n) == rest {
			return true
		}
	}
	return false
}

// podHandler maps pod events to the sets to sync: the pod's controller if a StatefulSet, else (for an
// orphan that appears or whose labels change) the sets whose selector matches it, which may adopt it.
func (r *Reconciler) podHandler() handler.EventHandler {
	enqueueController := func(pod client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) bool {
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref == nil {
			return false
		}
		if ref.Kind == setKind.Kind && ref.APIVersion == setKind.GroupVersion().String() {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pod.GetNamespace(), Name: ref.Name}})
		}
		return true
	}
	enqueueSelecting := func(ctx context.Context, pod client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		var sets appsv1.StatefulSetList
		if err := r.Client.List(ctx, &sets, client.InNamespace(pod.GetNamespace())); err != nil {
			log.FromContext(ctx).Error(err, "list statefulsets for an orphan pod", "pod", client.ObjectKeyFromObject(pod))
			return
		}
		for i := range sets.Items {
			selector, err := metav1.LabelSelectorAsSelector(sets.Items[i].Spec.Selector)
			if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.GetLabels())) {
				continue
			}
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&sets.Items[i])})
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if !enqueueController(e.Object, q) {
				enqueueSelecting(ctx, e.Object, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldRef, newRef := metav1.GetControllerOfNoCopy(e.ObjectOld), metav1.GetControllerOfNoCopy(e.ObjectNew)
			if oldRef != nil && (newRef == nil || oldRef.UID != newRef.UID) {
				enqueueController(e.ObjectOld, q)
			}
			if enqueueController(e.ObjectNew, q) {
				return
			}
			if !equality.Semantic.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) || oldRef != nil {
				enqueueSelecting(ctx, e.ObjectNew, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueController(e.Object, q)
		},
	}
}
