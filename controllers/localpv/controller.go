// Package localpv is skiff's dynamic provisioner "skiff.dev/local-path", the provisioner of the
// StorageClass "local-path", which skiff creates at start as the cluster's default class
// (storageclass.kubernetes.io/is-default-class: "true", unless another class is already the
// default), with volumeBindingMode WaitForFirstConsumer and reclaimPolicy Delete. Like k3s's
// local-path provisioner, the class lives with its provisioner: a cluster that runs no localpv
// controller has no class whose volumes nobody would make. The class is created if missing and never
// changed afterwards, so an administrator's edits stand; one deleted is created again at the next
// start.
//
// It acts as an external provisioner does (sigs.k8s.io/sig-storage-lib-external-provisioner): when
// the persistentvolume binder has found no volume for a claim of its class and annotated it
// volume.kubernetes.io/storage-provisioner: skiff.dev/local-path, and the scheduler has chosen the
// claim's node (volume.kubernetes.io/selected-node), it creates the PersistentVolume
// "pvc-<claim uid>", pre-bound to the claim, which the binder then binds. Events on the claim:
// Provisioning, ProvisioningSucceeded, ProvisioningFailed. A selected node that does not exist is
// given back to the scheduler by removing the annotation.
//
// The volume is a directory on the node, a hostPath volume of type DirectoryOrCreate with required
// node affinity kubernetes.io/hostname In [<node's hostname label, or name>]. Its path follows a
// convention the node agent honours:
//
//	<data dir>/storage/pvc-<claim uid>_<claim namespace>_<claim name>
//
// where <data dir> is the value of the node's annotation skiff.dev/data-dir, which the agent sets to
// its --data-dir, or /var/lib/skiff/agent (the agent's default) on a node without it. The agent makes
// the directory when it mounts the volume. Capacity is the claim's request (not enforced on the
// node), access modes the claim's (ReadWriteOnce or ReadWriteOncePod only), volume mode Filesystem
// only, reclaim policy and mount options the class's, annotation pv.kubernetes.io/provisioned-by:
// skiff.dev/local-path.
//
// When a volume it made is Released (its claim deleted) and its reclaim policy is Delete, the
// provisioner deletes the PersistentVolume. It does not touch the node: the node agent removes the
// directories of volumes that no longer exist. A Retain volume stays Released, directory and all.
//
// Requests for volumes and claims share one queue: a request without namespace is a volume.
package localpv

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/skiffhq/skiff/internal/storageclass"
)

const (
	// ProvisionerName is the provisioner of the local-path class.
	ProvisionerName = "skiff.dev/local-path"
	// StorageClassName is the class skiff creates for it.
	StorageClassName = "local-path"
	// DataDirAnnotation on a Node is its agent's data dir, under which volumes are made.
	DataDirAnnotation = "skiff.dev/data-dir"
	// DefaultDataDir is the data dir of a node without the annotation: the agent's default.
	DefaultDataDir = "/var/lib/skiff/agent"
)

// Event reasons, as external provisioners record them.
const (
	reasonProvisioning          = "Provisioning"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonProvisioningFailed    = "ProvisioningFailed"
	reasonVolumeFailedDelete    = "VolumeFailedDelete"
)

// Reconciler provisions and deletes local-path volumes.
type Reconciler struct {
	// Client is the manager's cached client.
	Client client.Client
	// Recorder records events as "skiff.dev/local-path".
	Recorder record.EventRecorder
	// DefaultDataDir is the data dir of nodes without the skiff.dev/data-dir annotation (default
	// DefaultDataDir).
	DefaultDataDir string
}

// SetupWithManager adds the provisioner to mgr, and the creation of its StorageClass at start.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.Add(manager.RunnableFunc(r.ensureStorageClass)); err != nil {
		return err
	}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		switch o := o.(type) {
		case *corev1.PersistentVolumeClaim:
			return o.Annotations[storagehelpers.AnnStorageProvisioner] == ProvisionerName ||
				o.Annotations[storagehelpers.AnnBetaStorageProvisioner] == ProvisionerName
		case *corev1.PersistentVolume:
			return o.Annotations[storagehelpers.AnnDynamicallyProvisioned] == ProvisionerName
		}
		return false
	})
	return builder.ControllerManagedBy(mgr).
		Named("localpv").
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(ours)).
		Watches(&corev1.PersistentVolume{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(ours)).
		Complete(r)
}

// Reconcile deletes a released volume (a request without namespace) or provisions a claim.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var err error
	if req.Namespace == "" {
		err = r.syncVolume(ctx, req.Name)
	} else {
		err = r.syncClaim(ctx, req.NamespacedName)
	}
	if apierrors.IsConflict(err) {
		// The cache was behind a write: not a failure.
		log.FromContext(ctx).V(1).Info("stale read, retrying", "err", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

// conflictRetry is how soon a sync that lost a write race runs again, unless the watch event of the
// newer version runs it sooner.
const conflictRetry = time.Second

func (r *Reconciler) syncClaim(ctx context.Context, key types.NamespacedName) error {
	var claim corev1.PersistentVolumeClaim
	if err := r.Client.Get(ctx, key, &claim); err != nil {
		return client.IgnoreNotFound(err)
	}
	className := storagehelpers.GetPersistentVolumeClaimClass(&claim)
	if className == "" {
		return nil
	}
	var class storagev1.StorageClass
	if err := r.Client.Get(ctx, types.NamespacedName{Name: className}, &class); err != nil {
		// A class deleted while its claims wait: retried, with backoff, until it is back.
		return fmt.Errorf("storage class of claim %s: %w", key, err)
	}
	if !shouldProvision(&claim, &class) {
		return nil
	}
	var existing corev1.PersistentVolume
	switch err := r.Client.Get(ctx, types.NamespacedName{Name: volumeName(&claim)}, &existing); {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get volume of claim %s: %w", key, err)
	}
	nodeName := selectedNode(&claim)
	if nodeName == "" {
		// An Immediate class: the volume has to live somewhere, and without a node chosen for a pod
		// there is no good choice. Local volumes want WaitForFirstConsumer.
		r.Recorder.Event(&claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf(
			"failed to provision volume with StorageClass %q: a local volume needs a node: use volumeBindingMode %s",
			className, storagev1.VolumeBindingWaitForFirstConsumer))
		return nil
	}
	var node corev1.Node
	if err := r.Client.Get(ctx, types.NamespacedName{Name: nodeName}, &node); err != nil {
		if apierrors.IsNotFound(err) {
			return r.reschedule(ctx, &claim, apierrors.NewNotFound(corev1.Resource("node"), nodeName))
		}
		r.Recorder.Event(&claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("failed to get target node: %v", err))
		return fmt.Errorf("selected node of claim %s: %w", key, err)
	}
	volume, err := volumeFor(&claim, &class, &node, r.defaultDataDir())
	if err != nil {
		// The claim or node asks for what this provisioner cannot do; a change to them retries.
		r.Recorder.Event(&claim, corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("failed to provision volume with StorageClass %q: %v", className, err))
		return nil
	}
	r.Recorder.Event(&claim, corev1.EventTypeNormal, reasonProvisioning,
		fmt.Sprintf("External provisioner is provisioning volume for claim %q", key.String()))
	switch err := r.Client.Create(ctx, volume); {
	case apierrors.IsAlreadyExists(err):
		// Made by an earlier sync that the cache had not shown yet.
		return nil
	case err != nil:
		r.Recorder.Event(&claim, corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("failed to provision volume with StorageClass %q: %v", className, err))
		return fmt.Errorf("create volume %s for claim %s: %w", volume.Name, key, err)
	}
	r.Recorder.Event(&claim, corev1.EventTypeNormal, reasonProvisioningSucceeded, fmt.Sprintf("Successfully provisioned volume %s", volume.Name))
	return nil
}

// reschedule gives a claim whose selected node cannot take its volume back to the scheduler.
func (r *Reconciler) reschedule(ctx context.Context, claim *corev1.PersistentVolumeClaim, cause error) error {
	r.Recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, cause.Error())
	delete(claim.Annotations, storagehelpers.AnnSelectedNode)
	if err := r.Client.Update(ctx, claim); err != nil {
		return fmt.Errorf("reschedule claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	return nil
}

func (r *Reconciler) syncVolume(ctx context.Context, name string) error {
	var volume corev1.PersistentVolume
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, &volume); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !shouldDelete(&volume) {
		return nil
	}
	// The preconditions make sure the volume deleted is the one seen Released, not one since bound.
	err := r.Client.Delete(ctx, &volume, client.Preconditions{UID: &volume.UID, ResourceVersion: &volume.ResourceVersion})
	switch {
	case err == nil:
		log.FromContext(ctx).V(1).Info("deleted released volume", "volume", name)
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("delete volume %s: changed since read: %w", name, err)
	}
	r.Recorder.Event(&volume, corev1.EventTypeWarning, reasonVolumeFailedDelete, err.Error())
	return fmt.Errorf("delete volume %s: %w", name, err)
}

func (r *Reconciler) defaultDataDir() string {
	if r.DefaultDataDir != "" {
		return r.DefaultDataDir
	}
	return DefaultDataDir
}

// ensureStorageClass creates the local-path class if it does not exist, the default class unless
// another is, retrying until it succeeds or ctx ends.
func (r *Reconciler) ensureStorageClass(ctx context.Context) error {
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := r.createStorageClass(ctx); err != nil {
			log.FromContext(ctx).Error(err, "create the local-path storage class")
			return false, nil
		}
		return true, nil
	})
	if ctx.Err() != nil {
		// Stopping is not a failure of the manager.
		return nil
	}
	return err
}

func (r *Reconciler) createStorageClass(ctx context.Context) error {
	var existing storagev1.StorageClass
	switch err := r.Client.Get(ctx, types.NamespacedName{Name: StorageClassName}, &existing); {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return err
	}
	var classes storagev1.StorageClassList
	if err := r.Client.List(ctx, &classes); err != nil {
		return err
	}
	list := make([]*storagev1.StorageClass, 0, len(classes.Items))
	for i := range classes.Items {
		list = append(list, &classes.Items[i])
	}
	class := DefaultStorageClass(storageclass.Default(list) == nil)
	if err := r.Client.Create(ctx, class); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
