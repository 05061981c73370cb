package persistentvolume

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// findBestMatch returns the volume a claim without volumeName should bind to, or nil: a volume
// already bound or pre-bound to the claim, else the smallest Available volume of the claim's class
// that has at least its size, all its access modes, its volume mode and matches its selector.
// Volumes whose access modes are the fewest that satisfy the claim are preferred, as upstream's
// index does (a ReadWriteOnce claim takes a ReadWriteOnce volume before a ReadWriteOnce+ReadOnlyMany
// one). With delayBinding (a WaitForFirstConsumer class) only a volume bound to the claim is taken:
// the scheduler chooses the others. volumes are expected sorted by name, so that the choice among
// equals is stable.
func findBestMatch(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, delayBinding bool) (*corev1.PersistentVolume, error) {
	groups := map[string][]*corev1.PersistentVolume{}
	sizes := map[string]int{}
	for _, v := range volumes {
		modes := sets.New(v.Spec.AccessModes...)
		if !modes.HasAll(claim.Spec.AccessModes...) {
			continue
		}
		key := accessModesKey(modes)
		groups[key] = append(groups[key], v)
		sizes[key] = modes.Len()
	}
	keys := make([]string, 0, len(groups))
	for key := range groups {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool {
		if sizes[keys[i]] != sizes[keys[j]] {
			return sizes[keys[i]] < sizes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, key := range keys {
		v, err := storagehelpers.FindMatchingVolume(claim, groups[key], nil, nil, delayBinding, true)
		if err != nil || v != nil {
			return v, err
		}
	}
	return nil, nil
}

func accessModesKey(modes sets.Set[corev1.PersistentVolumeAccessMode]) string {
	names := make([]string, 0, modes.Len())
	for m := range modes {
		names = append(names, string(m))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// checkVolumeSatisfiesClaim says why a volume a claim names cannot serve it, or nil.
func checkVolumeSatisfiesClaim(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	if volume.DeletionTimestamp != nil {
		return fmt.Errorf("the volume is marked for deletion %q", volume.Name)
	}
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := volume.Spec.Capacity[corev1.ResourceStorage]
	if capacity.Cmp(requested) < 0 {
		return fmt.Errorf("requested PV is too small")
	}
	if storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim) {
		return fmt.Errorf("storageClassName does not match")
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
		return fmt.Errorf("incompatible volumeMode")
	}
	if !storagehelpers.CheckAccessModes(claim, volume) {
		return fmt.Errorf("incompatible accessMode")
	}
	return nil
}

// boundClaim returns claim bound to volume: volumeName set (marked bound-by-controller if this
// controller set it) and the binding marked complete. changed is false if it already was.
func boundClaim(claim *corev1.PersistentVolumeClaim, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, bool) {
	out := claim.DeepCopy()
	changed := false
	if out.Spec.VolumeName != volume.Name {
		out.Spec.VolumeName = volume.Name
		if !metav1.HasAnnotation(out.ObjectMeta, storagehelpers.AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&out.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		}
		changed = true
	}
	if !metav1.HasAnnotation(out.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&out.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
		changed = true
	}
	return out, changed
}

// unboundVolume returns volume released from a claim that is bound elsewhere: a binding this
// controller made is removed; a user's pre-binding is kept, only its claim UID cleared, so that the
// volume waits for a claim of that name again.
func unboundVolume(volume *corev1.PersistentVolume) *corev1.PersistentVolume {
	out := volume.DeepCopy()
	if metav1.HasAnnotation(out.ObjectMeta, storagehelpers.AnnBoundByController) {
		out.Spec.ClaimRef = nil
		delete(out.Annotations, storagehelpers.AnnBoundByController)
		if len(out.Annotations) == 0 {
			out.Annotations = nil
		}
	} else if out.Spec.ClaimRef != nil {
		out.Spec.ClaimRef.UID = ""
	}
	return out
}

// claimStatus returns claim's status in phase. A bound claim reports its volume's access modes and,
// when it becomes bound, its capacity (a later difference may be deliberate, a file system smaller
// than its block device, and is kept); a claim without a volume reports neither.
func claimStatus(claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (corev1.PersistentVolumeClaimStatus, bool, error) {
	status := *claim.Status.DeepCopy()
	changed := false
	if status.Phase != phase {
		status.Phase = phase
		changed = true
	}
	if volume == nil {
		if status.AccessModes != nil || status.Capacity != nil {
			status.AccessModes, status.Capacity = nil, nil
			changed = true
		}
		return status, changed, nil
	}
	if !reflect.DeepEqual(status.AccessModes, volume.Spec.AccessModes) {
		status.AccessModes = volume.Spec.AccessModes
		changed = true
	}
	if claim.Status.Phase != phase {
		capacity, ok := volume.Spec.Capacity[corev1.ResourceStorage]
		if !ok {
			return status, false, fmt.Errorf("PersistentVolume %q is without a storage capacity", volume.Name)
		}
		if current, ok := status.Capacity[corev1.ResourceStorage]; !ok || current.Cmp(capacity) != 0 {
			status.Capacity = volume.Spec.Capacity.DeepCopy()
			changed = true
		}
	}
	return status, changed, nil
}

// volumeStatus returns volume's status in phase with message; the transition time moves only when
// the phase does.
func volumeStatus(volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string, now time.Time) (corev1.PersistentVolumeStatus, bool) {
	status := *volume.Status.DeepCopy()
	if status.Phase == phase && status.Message == message {
		return status, false
	}
	if status.Phase != phase {
		status.LastPhaseTransitionTime = &metav1.Time{Time: now}
	}
	status.Phase, status.Message = phase, message
	return status, true
}

// delayBinding says whether a claim's class binds only once a pod using the claim is scheduled.
func delayBinding(class *storagev1.StorageClass) bool {
	return class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// externalProvisioner says whether a provisioner name belongs to an external provisioner: upstream
// reserves kubernetes.io/ for its in-tree volume plugins, and skiff has none of those.
func externalProvisioner(name string) bool {
	return name != "" && !strings.HasPrefix(name, "kubernetes.io/")
}

// claimKey is the namespace/name of a claim, as a volume's claimRef names it.
func claimKey(namespace, name string) string { return namespace + "/" + name }
