// Package persistentvolume binds PersistentVolumeClaims to PersistentVolumes, as upstream's
// persistent volume controller (pkg/controller/volume/persistentvolume) does, without its in-tree
// volume plugins: skiff provisions and deletes volumes through external provisioners only, such as
// controllers/localpv.
//
// A claim without volumeName binds to the smallest Available volume of its storage class that has at
// least its size and all its access modes (volumes with the fewest extra modes first), its volume
// mode, and matches its selector; node affinity is the scheduler's concern. Binding sets the
// volume's claimRef (and pv.kubernetes.io/bound-by-controller when the controller chose it), the
// claim's volumeName (with bound-by-controller) and pv.kubernetes.io/bind-completed, the volume
// Bound, and the claim Bound with the volume's capacity and access modes. A claim may name its
// volume, and a volume its claim (pre-binding); the controller completes such bindings.
//
// A claim of a WaitForFirstConsumer class stays Pending (event WaitForFirstConsumer, or
// WaitForPodScheduled naming the pods that use it) until the scheduler chooses a node for a pod
// using it and records it in volume.kubernetes.io/selected-node. Then, or at once for an Immediate
// class, if no volume fits and the class names a provisioner, the claim is annotated
// volume.kubernetes.io/storage-provisioner (and the older volume.beta.kubernetes.io/...) for that
// provisioner to make a volume pre-bound to it (event ExternalProvisioning), which is then bound.
// A claim created without a class before a default class existed gets the default class later.
//
// When a bound claim is deleted its volume is Released and reclaimed by its policy: Retain keeps
// it Released; Delete leaves it to the provisioner that made it (pv.kubernetes.io/provisioned-by),
// and a volume no provisioner made Fails (VolumeFailedDelete); Recycle is not supported
// (VolumeFailedRecycle). A bound claim whose volume disappears is Lost.
//
// Requests for volumes and claims share one queue: a request without namespace is a volume.
package persistentvolume

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/skiffhq/skiff/internal/storageclass"
)

// Field indexes of the shared cache.
const (
	// claimRefIndex indexes volumes by the namespace/name of the claim their claimRef names.
	claimRefIndex = "persistentvolume.claimRef"
	// unboundClaimClassIndex indexes the claims still looking for a volume by their class ("" for
	// none), so that a new volume or class wakes the claims it may serve.
	unboundClaimClassIndex = "persistentvolume.unboundClaimClass"
	// podClaimsIndex indexes pods by the namespace/name of the claims they use.
	podClaimsIndex = "persistentvolume.podClaims"
)

// Reconciler binds claims and volumes.
type Reconciler struct {
	// Client is the manager's cached client.
	Client client.Client
	// Recorder records events as "persistentvolume-controller".
	Recorder record.EventRecorder

	// apiReader reads past the cache, to be sure a claim is gone before its volume is released.
	apiReader client.Reader
}

// SetupWithManager adds the controller and its indexes to mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.apiReader = mgr.GetAPIReader()
	ctx := context.Background()
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &corev1.PersistentVolume{}, claimRefIndex, func(o client.Object) []string {
		return volumeClaimRef(o.(*corev1.PersistentVolume))
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &corev1.PersistentVolumeClaim{}, unboundClaimClassIndex, func(o client.Object) []string {
		return unboundClaimClass(o.(*corev1.PersistentVolumeClaim))
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &corev1.Pod{}, podClaimsIndex, func(o client.Object) []string {
		return podClaims(o.(*corev1.Pod))
	}); err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("persistentvolume").
		For(&corev1.PersistentVolumeClaim{}).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.volumesOfClaim)).
		Watches(&corev1.PersistentVolume{}, handler.EnqueueRequestsFromMapFunc(r.requestsOfVolume)).
		Watches(&storagev1.StorageClass{}, handler.EnqueueRequestsFromMapFunc(r.claimsOfClass)).
		Complete(r)
}

// Reconcile syncs a volume (a request without namespace) or a claim.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var err error
	if req.Namespace == "" {
		err = r.syncVolume(ctx, req.Name)
	} else {
		err = r.syncClaim(ctx, req.NamespacedName)
	}
	if apierrors.IsConflict(err) {
		// The cache was behind a write, often this controller's own: not a failure.
		log.FromContext(ctx).V(1).Info("stale read, retrying", "err", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

// conflictRetry is how soon a sync that lost a write race runs again, unless the watch event of the
// newer version runs it sooner. A fixed short delay suffices: each retry reads the cache afresh.
const conflictRetry = time.Second

// volumesOfClaim maps a claim to the volumes bound to it, from either side.
func (r *Reconciler) volumesOfClaim(ctx context.Context, obj client.Object) []reconcile.Request {
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	var reqs []reconcile.Request
	if claim.Spec.VolumeName != "" {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: claim.Spec.VolumeName}})
	}
	var volumes corev1.PersistentVolumeList
	if err := r.Client.List(ctx, &volumes, client.MatchingFields{claimRefIndex: claimKey(claim.Namespace, claim.Name)}); err != nil {
		log.FromContext(ctx).Error(err, "list volumes of claim", "claim", client.ObjectKeyFromObject(claim))
		return reqs
	}
	for i := range volumes.Items {
		if volumes.Items[i].Name != claim.Spec.VolumeName {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: volumes.Items[i].Name}})
		}
	}
	return reqs
}

// requestsOfVolume maps a volume to itself, to the claim it names, and, while it is free, to the
// claims of its class still looking for a volume.
func (r *Reconciler) requestsOfVolume(ctx context.Context, obj client.Object) []reconcile.Request {
	volume, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil
	}
	reqs := []reconcile.Request{{NamespacedName: types.NamespacedName{Name: volume.Name}}}
	if ref := volume.Spec.ClaimRef; ref != nil {
		return append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}})
	}
	if volume.DeletionTimestamp != nil {
		return reqs
	}
	return append(reqs, r.unboundClaimsOfClass(ctx, storagehelpers.GetPersistentVolumeClass(volume))...)
}

// claimsOfClass maps a storage class to the claims of that class still looking for a volume and,
// for a default class, to those without class.
func (r *Reconciler) claimsOfClass(ctx context.Context, obj client.Object) []reconcile.Request {
	class, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil
	}
	reqs := r.unboundClaimsOfClass(ctx, class.Name)
	if storageclass.IsDefault(class) {
		reqs = append(reqs, r.unboundClaimsOfClass(ctx, "")...)
	}
	return reqs
}

func (r *Reconciler) unboundClaimsOfClass(ctx context.Context, class string) []reconcile.Request {
	var claims corev1.PersistentVolumeClaimList
	if err := r.Client.List(ctx, &claims, client.MatchingFields{unboundClaimClassIndex: class}); err != nil {
		log.FromContext(ctx).Error(err, "list claims waiting for a volume", "storageClass", class)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(claims.Items))
	for i := range claims.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&claims.Items[i])})
	}
	return reqs
}

// volumeClaimRef is the claimRefIndex value of a volume.
func volumeClaimRef(volume *corev1.PersistentVolume) []string {
	if ref := volume.Spec.ClaimRef; ref != nil {
		return []string{claimKey(ref.Namespace, ref.Name)}
	}
	return nil
}

// unboundClaimClass is the unboundClaimClassIndex value of a claim: its class while it looks for a
// volume.
func unboundClaimClass(claim *corev1.PersistentVolumeClaim) []string {
	if claim.Spec.VolumeName != "" || metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return nil
	}
	return []string{storagehelpers.GetPersistentVolumeClaimClass(claim)}
}

// podClaims is the podClaimsIndex value of a pod: the claims of its persistentVolumeClaim volumes
// and of its generic ephemeral volumes (named <pod>-<volume>).
func podClaims(pod *corev1.Pod) []string {
	var keys []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			keys = append(keys, claimKey(pod.Namespace, v.PersistentVolumeClaim.ClaimName))
		case v.Ephemeral != nil:
			keys = append(keys, claimKey(pod.Namespace, pod.Name+"-"+v.Name))
		}
	}
	return keys
}
