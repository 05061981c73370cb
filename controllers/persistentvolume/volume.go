package persistentvolume

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// volumeDecision is what a volume's sync does.
type volumeDecision struct {
	// phase is the volume's phase to be, with message; "" leaves it.
	phase   corev1.PersistentVolumePhase
	message string
	// event is recorded when the phase changes.
	event *eventSpec
	// unbind releases the volume from a claim bound elsewhere before the phase is set.
	unbind bool
	// modeMismatch: the claim the volume is bound to cannot use it (volume mode); both get an event.
	modeMismatch bool
}

// decideVolume is the volume half of upstream's binder (syncVolume). claim is the claim the
// volume's claimRef names, nil if it does not exist (anymore).
func decideVolume(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) volumeDecision {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Free, or pre-bound by a user to a claim name that a claim will bind to.
		return volumeDecision{phase: corev1.VolumeAvailable}
	}
	if claim != nil && claim.UID != ref.UID {
		// The claim was deleted and another made with its name: the volume's claim is gone.
		claim = nil
	}
	switch {
	case claim == nil:
		return reclaim(volume)
	case claim.Spec.VolumeName == "":
		// Bound on the volume's side only: the claim's sync completes the binding, unless it cannot.
		if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
			return volumeDecision{modeMismatch: true}
		}
		return volumeDecision{}
	case claim.Spec.VolumeName == volume.Name:
		return volumeDecision{phase: corev1.VolumeBound}
	case metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) &&
		volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Provisioned for a claim that got another volume: not needed.
		return reclaim(volume)
	}
	// The controller bound it to a claim that got another volume: free it (a user's pre-binding stays).
	return volumeDecision{unbind: true, phase: corev1.VolumeAvailable}
}

// reclaim is what becomes of a volume whose claim is gone, by its reclaim policy. It is Released;
// Retain keeps it so, Delete leaves it to the provisioner that made it (skiff has no in-tree
// deleters, so a volume no provisioner made cannot be deleted and Fails), Recycle is not supported.
// A Failed volume stays Failed.
func reclaim(volume *corev1.PersistentVolume) volumeDecision {
	released := volumeDecision{phase: corev1.VolumeReleased}
	if volume.Status.Phase == corev1.VolumeFailed {
		released = volumeDecision{phase: corev1.VolumeFailed, message: volume.Status.Message}
	}
	failed := func(reason, message string) volumeDecision {
		return volumeDecision{phase: corev1.VolumeFailed, message: message, event: &eventSpec{corev1.EventTypeWarning, reason, message}}
	}
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return released
	case corev1.PersistentVolumeReclaimDelete:
		provisioner := volume.Annotations[storagehelpers.AnnDynamicallyProvisioned]
		switch {
		case externalProvisioner(provisioner):
			return released
		case provisioner != "":
			return failed(reasonVolumeFailedDelete, fmt.Sprintf("no volume plugin matched name: %s", provisioner))
		}
		return failed(reasonVolumeFailedDelete,
			fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", volume.Name))
	case corev1.PersistentVolumeReclaimRecycle:
		return failed(reasonVolumeFailedRecycle, "No recycler plugin found for the volume!")
	}
	return failed(reasonUnknownReclaimPolicy, "Volume has unrecognized PersistentVolumeReclaimPolicy")
}

// syncVolume reads a volume and its claim, decides, and acts.
func (r *Reconciler) syncVolume(ctx context.Context, name string) error {
	var volume corev1.PersistentVolume
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, &volume); err != nil {
		return client.IgnoreNotFound(err)
	}
	claim, err := r.claimOf(ctx, &volume)
	if err != nil {
		return err
	}
	d := decideVolume(&volume, claim)
	if d.modeMismatch {
		r.Recorder.Event(&volume, corev1.EventTypeWarning, reasonVolumeMismatch, fmt.Sprintf(
			"Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name))
		r.Recorder.Event(claim, corev1.EventTypeWarning, reasonVolumeMismatch, fmt.Sprintf(
			"Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", volume.Name))
		return nil
	}
	if d.unbind {
		unbound := unboundVolume(&volume)
		if err := r.Client.Update(ctx, unbound); err != nil {
			return fmt.Errorf("unbind volume %s: %w", volume.Name, err)
		}
		volume = *unbound
	}
	if d.phase == "" {
		return nil
	}
	return r.setVolumePhase(ctx, &volume, d.phase, d.message, d.event)
}

// claimOf returns the claim volume's claimRef names, nil if there is none. A claim missing from
// the cache is looked up in the API before a volume is released for it: a claim just created (by
// a provisioner's user, or bound by another binder) may not be cached yet.
func (r *Reconciler) claimOf(ctx context.Context, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		return nil, nil
	}
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	var claim corev1.PersistentVolumeClaim
	err := r.Client.Get(ctx, key, &claim)
	if apierrors.IsNotFound(err) && volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
		err = r.apiReader.Get(ctx, key, &claim)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get claim %s of volume %s: %w", key, volume.Name, err)
	}
	return &claim, nil
}

// setVolumePhase writes the volume's phase and message if they changed, and records event if the
// phase did.
func (r *Reconciler) setVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase,
	message string, event *eventSpec) error {
	status, changed := volumeStatus(volume, phase, message, time.Now())
	if !changed {
		return nil
	}
	phaseChanged := volume.Status.Phase != phase
	volume.Status = status
	if err := r.Client.Status().Update(ctx, volume); err != nil {
		return fmt.Errorf("set phase %s of volume %s: %w", phase, volume.Name, err)
	}
	if event != nil && phaseChanged {
		r.Recorder.Event(volume, event.eventType, event.reason, event.message)
	}
	return nil
}

func sortByName(volumes []*corev1.PersistentVolume) {
	sort.Slice(volumes, func(i, j int) bool { return volumes[i].Name < volumes[j].Name })
}
