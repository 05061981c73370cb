package persistentvolume

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/skiffhq/skiff/internal/storageclass"
)

// Event reasons of the claims and volumes, as upstream's.
const (
	reasonFailedBinding        = "FailedBinding"
	reasonVolumeMismatch       = "VolumeMismatch"
	reasonExternalProvisioning = "ExternalProvisioning"
	reasonProvisioningFailed   = "ProvisioningFailed"
	reasonWaitForFirstConsumer = "WaitForFirstConsumer"
	reasonWaitForPodScheduled  = "WaitForPodScheduled"
	reasonClaimLost            = "ClaimLost"
	reasonClaimMisbound        = "ClaimMisbound"
	reasonVolumeFailedDelete   = "VolumeFailedDelete"
	reasonVolumeFailedRecycle  = "VolumeFailedRecycle"
	reasonUnknownReclaimPolicy = "VolumeUnknownReclaimPolicy"
)

type eventSpec struct {
	eventType, reason, message string
}

// claimAction is what a claim's sync does.
type claimAction int

const (
	// claimPending keeps the claim Pending, without volume in its status.
	claimPending claimAction = iota
	// claimBind binds the claim and decision.volume to each other.
	claimBind
	// claimAssignClass gives a claim without class the default class (upstream's retroactive
	// default storage class assignment); the claim is synced again after.
	claimAssignClass
	// claimProvision asks decision.provisioner for a volume, by annotating the claim.
	claimProvision
	// claimLost marks a bound claim Lost: its volume is gone or bound elsewhere.
	claimLost
	// claimEventOnly only records decision.event (and returns decision.err).
	claimEventOnly
)

type claimDecision struct {
	action      claimAction
	volume      *corev1.PersistentVolume
	class       string
	provisioner string
	event       *eventSpec
	// waitForConsumer: the claim waits for a pod using it to be scheduled; its event names the pods.
	waitForConsumer bool
	err             error
}

// claimView is what a claim's sync reads.
type claimView struct {
	claim *corev1.PersistentVolumeClaim
	// volumes are the candidates, sorted by name: all volumes for a claim still to match, else the
	// one it names (if it exists).
	volumes []*corev1.PersistentVolume
	// class is the claim's StorageClass, nil if it names none or it does not exist.
	class *storagev1.StorageClass
	// defaultClass is the cluster's default StorageClass, nil if none.
	defaultClass *storagev1.StorageClass
}

// decideClaim is the claim half of upstream's binder (syncUnboundClaim and syncBoundClaim).
func decideClaim(v claimView) (claimDecision, error) {
	claim := v.claim
	if metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return decideBoundClaim(v), nil
	}
	if claim.Spec.VolumeName != "" {
		return decidePreboundClaim(v), nil
	}
	delay := delayBinding(v.class)
	volume, err := findBestMatch(claim, v.volumes, delay)
	if err != nil {
		return claimDecision{}, fmt.Errorf("error finding PV for claim %q: %w", claimKey(claim.Namespace, claim.Name), err)
	}
	if volume != nil {
		return claimDecision{action: claimBind, volume: volume}, nil
	}
	if !storagehelpers.PersistentVolumeClaimHasClass(claim) && v.defaultClass != nil {
		return claimDecision{action: claimAssignClass, class: v.defaultClass.Name}, nil
	}
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	switch {
	case delay && !storagehelpers.IsDelayBindingProvisioning(claim):
		return claimDecision{action: claimPending, waitForConsumer: true}, nil
	case className != "" && v.class == nil:
		return claimDecision{action: claimEventOnly, event: &eventSpec{corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("storageclass.storage.k8s.io %q not found", className)}}, nil
	case className != "" && !externalProvisioner(v.class.Provisioner):
		return claimDecision{action: claimEventOnly, event: &eventSpec{corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("no volume plugin matched name: %s", v.class.Provisioner)}}, nil
	case className != "":
		return claimDecision{action: claimProvision, provisioner: v.class.Provisioner}, nil
	}
	return claimDecision{action: claimPending, event: &eventSpec{corev1.EventTypeNormal, reasonFailedBinding,
		"no persistent volumes available for this claim and no storage class is set"}}, nil
}

// decidePreboundClaim: the user named the volume the claim wants.
func decidePreboundClaim(v claimView) claimDecision {
	claim := v.claim
	volume := volumeNamed(v.volumes, claim.Spec.VolumeName)
	switch {
	case volume == nil:
		// It may be created later.
		return claimDecision{action: claimPending}
	case volume.Spec.ClaimRef == nil:
		if err := checkVolumeSatisfiesClaim(volume, claim); err != nil {
			return claimDecision{action: claimPending, event: &eventSpec{corev1.EventTypeWarning, reasonVolumeMismatch,
				fmt.Sprintf("Cannot bind to requested volume %q: %s", volume.Name, err)}}
		}
		return claimDecision{action: claimBind, volume: volume}
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return claimDecision{action: claimBind, volume: volume}
	}
	event := &eventSpec{corev1.EventTypeWarning, reasonFailedBinding, fmt.Sprintf("volume %q already bound to a different claim.", volume.Name)}
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController) {
		return claimDecision{action: claimPending, event: event}
	}
	// Only a removed bind-completed annotation leads here.
	return claimDecision{action: claimEventOnly, event: event, err: fmt.Errorf(
		"invalid binding of claim %q to volume %q: volume already claimed by %q", claimKey(claim.Namespace, claim.Name),
		claim.Spec.VolumeName, claimKey(volume.Spec.ClaimRef.Namespace, volume.Spec.ClaimRef.Name))}
}

// decideBoundClaim: the claim was bound once; keep it so, or report it lost.
func decideBoundClaim(v claimView) claimDecision {
	claim := v.claim
	if claim.Spec.VolumeName == "" {
		return claimDecision{action: claimLost, event: &eventSpec{corev1.EventTypeWarning, reasonClaimLost,
			"Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"}}
	}
	volume := volumeNamed(v.volumes, claim.Spec.VolumeName)
	switch {
	case volume == nil:
		return claimDecision{action: claimLost, event: &eventSpec{corev1.EventTypeWarning, reasonClaimLost,
			"Bound claim has lost its PersistentVolume. Data on the volume is lost!"}}
	case volume.Spec.ClaimRef == nil, storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return claimDecision{action: claimBind, volume: volume}
	}
	return claimDecision{action: claimLost, event: &eventSpec{corev1.EventTypeWarning, reasonClaimMisbound,
		"Two claims are bound to the same volume, this one is bound incorrectly"}}
}

// waitForConsumerEvent is the event of a claim waiting for its first consumer: the pods using it
// that wait to be scheduled, if any.
func waitForConsumerEvent(unscheduledPods []string) eventSpec {
	switch len(unscheduledPods) {
	case 0:
		return eventSpec{corev1.EventTypeNormal, reasonWaitForFirstConsumer, "waiting for first consumer to be created before binding"}
	case 1:
		return eventSpec{corev1.EventTypeNormal, reasonWaitForPodScheduled, fmt.Sprintf("waiting for pod %s to be scheduled", unscheduledPods[0])}
	}
	return eventSpec{corev1.EventTypeNormal, reasonWaitForPodScheduled,
		fmt.Sprintf("waiting for pods %s to be scheduled", strings.Join(unscheduledPods, ","))}
}

func volumeNamed(volumes []*corev1.PersistentVolume, name string) *corev1.PersistentVolume {
	for _, v := range volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// syncClaim reads a claim's world, decides, and acts.
func (r *Reconciler) syncClaim(ctx context.Context, key types.NamespacedName) error {
	var claim corev1.PersistentVolumeClaim
	if err := r.Client.Get(ctx, key, &claim); err != nil {
		return client.IgnoreNotFound(err)
	}
	view, err := r.viewClaim(ctx, &claim)
	if err != nil {
		return err
	}
	d, err := decideClaim(view)
	if err != nil {
		return err
	}
	switch d.action {
	case claimBind:
		return r.bind(ctx, d.volume, &claim)
	case claimAssignClass:
		claim.Spec.StorageClassName = &d.class
		if err := r.Client.Update(ctx, &claim); err != nil {
			return fmt.Errorf("can't update PersistentVolumeClaim[%q]: %w", key, err)
		}
		return nil
	case claimProvision:
		return r.requestProvisioning(ctx, &claim, d.provisioner)
	case claimLost:
		return r.setClaimStatus(ctx, &claim, corev1.ClaimLost, nil, d.event)
	case claimEventOnly:
		r.Recorder.Event(&claim, d.event.eventType, d.event.reason, d.event.message)
		return d.err
	}
	if d.waitForConsumer {
		pods, err := r.unscheduledPodsUsing(ctx, &claim)
		if err != nil {
			return err
		}
		e := waitForConsumerEvent(pods)
		d.event = &e
	}
	if d.event != nil {
		r.Recorder.Event(&claim, d.event.eventType, d.event.reason, d.event.message)
	}
	return r.setClaimStatus(ctx, &claim, corev1.ClaimPending, nil, nil)
}

// viewClaim reads what decideClaim needs from the cache.
func (r *Reconciler) viewClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) (claimView, error) {
	view := claimView{claim: claim}
	if claim.Spec.VolumeName != "" {
		var volume corev1.PersistentVolume
		key := types.NamespacedName{Name: claim.Spec.VolumeName}
		err := r.Client.Get(ctx, key, &volume)
		if apierrors.IsNotFound(err) && metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
			// Before a bound claim is declared Lost, make sure its volume is gone, not just uncached.
			err = r.apiReader.Get(ctx, key, &volume)
		}
		switch {
		case err == nil:
			view.volumes = []*corev1.PersistentVolume{&volume}
		case !apierrors.IsNotFound(err):
			return view, fmt.Errorf("get volume %s: %w", claim.Spec.VolumeName, err)
		}
		return view, nil
	}
	if metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return view, nil
	}
	var volumes corev1.PersistentVolumeList
	if err := r.Client.List(ctx, &volumes); err != nil {
		return view, fmt.Errorf("list volumes: %w", err)
	}
	for i := range volumes.Items {
		view.volumes = append(view.volumes, &volumes.Items[i])
	}
	sortByName(view.volumes)
	if name := storagehelpers.GetPersistentVolumeClaimClass(claim); name != "" {
		var class storagev1.StorageClass
		err := r.Client.Get(ctx, types.NamespacedName{Name: name}, &class)
		switch {
		case err == nil:
			view.class = &class
		case !apierrors.IsNotFound(err):
			return view, fmt.Errorf("get storage class %s: %w", name, err)
		}
	}
	if !storagehelpers.PersistentVolumeClaimHasClass(claim) {
		var classes storagev1.StorageClassList
		if err := r.Client.List(ctx, &classes); err != nil {
			return view, fmt.Errorf("list storage classes: %w", err)
		}
		list := make([]*storagev1.StorageClass, 0, len(classes.Items))
		for i := range classes.Items {
			list = append(list, &classes.Items[i])
		}
		view.defaultClass = storageclass.Default(list)
	}
	return view, nil
}

// bind binds volume and claim in upstream's order: the volume first (claimRef, then phase Bound),
// so that a failure leaves the volume reserved for the claim, which the next sync finds first; then
// the claim (volumeName and annotations, then status). Each write is skipped if already done.
func (r *Reconciler) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	bound, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil {
		return err
	}
	if dirty {
		if err := r.Client.Update(ctx, bound); err != nil {
			return fmt.Errorf("bind volume %s to claim %s: %w", volume.Name, claimKey(claim.Namespace, claim.Name), err)
		}
	}
	if err := r.setVolumePhase(ctx, bound, corev1.VolumeBound, "", nil); err != nil {
		return err
	}
	boundC, changed := boundClaim(claim, bound)
	if changed {
		if err := r.Client.Update(ctx, boundC); err != nil {
			return fmt.Errorf("bind claim %s to volume %s: %w", claimKey(claim.Namespace, claim.Name), volume.Name, err)
		}
	}
	return r.setClaimStatus(ctx, boundC, corev1.ClaimBound, bound, nil)
}

// requestProvisioning hands the claim to an external provisioner: the annotations name it, and an
// event says what the claim waits for.
func (r *Reconciler) requestProvisioning(ctx context.Context, claim *corev1.PersistentVolumeClaim, provisioner string) error {
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] != provisioner ||
		claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] != provisioner {
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, storagehelpers.AnnStorageProvisioner, provisioner)
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, provisioner)
		if err := r.Client.Update(ctx, claim); err != nil {
			r.Recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("Error saving claim: %v", err))
			return fmt.Errorf("annotate claim %s for provisioner %s: %w", claimKey(claim.Namespace, claim.Name), provisioner, err)
		}
	}
	r.Recorder.Event(claim, corev1.EventTypeNormal, reasonExternalProvisioning, fmt.Sprintf(
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. "+
			"If volume creation is delayed, please verify that the provisioner is running and correctly registered.", provisioner))
	return nil
}

// setClaimStatus writes the claim's status in phase if it changed, and records event if the phase did.
func (r *Reconciler) setClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase,
	volume *corev1.PersistentVolume, event *eventSpec) error {
	status, changed, err := claimStatus(claim, phase, volume)
	if err != nil || !changed {
		return err
	}
	phaseChanged := claim.Status.Phase != phase
	claim.Status = status
	if err := r.Client.Status().Update(ctx, claim); err != nil {
		return fmt.Errorf("update status of claim %s: %w", claimKey(claim.Namespace, claim.Name), err)
	}
	if event != nil && phaseChanged {
		r.Recorder.Event(claim, event.eventType, event.reason, event.message)
	}
	return nil
}

// unscheduledPodsUsing are the names of the live pods using claim that have no node yet.
func (r *Reconciler) unscheduledPodsUsing(ctx context.Context, claim *corev1.PersistentVolumeClaim) ([]string, error) {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(claim.Namespace),
		client.MatchingFields{podClaimsIndex: claimKey(claim.Namespace, claim.Name)}); err != nil {
		return nil, fmt.Errorf("list pods using claim %s: %w", claimKey(claim.Namespace, claim.Name), err)
	}
	var names []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}
