package scheduler

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	volumehelper "k8s.io/component-helpers/storage/volume"
)

const (
	reasonUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
	reasonVolumeNodeAffinity = "node(s) had volume node affinity conflict"
	reasonBindConflict       = "node(s) didn't find available persistent volumes to bind"
	reasonPVNotExist         = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
)

// volumeBinding checks a pod's PersistentVolumeClaims: bound volumes must be reachable from the node
// (their node affinity), claims of a WaitForFirstConsumer class without a volume must be bindable to
// an available volume on the node or provisionable there (the class's allowedTopologies), and claims
// of Immediate classes must already be bound. Once a node is chosen, the binder binds the chosen
// volumes and marks claims to provision with the node (upstream's VolumeBinding PreBind).
type volumeBinding struct {
	assumed *pvAssumptions
}

// unboundClaim is a WaitForFirstConsumer claim without a volume, and its class.
type unboundClaim struct {
	pvc   *corev1.PersistentVolumeClaim
	class *storagev1.StorageClass
}

type volumeState struct {
	bound     []*corev1.PersistentVolume
	missingPV bool
	unbound   []unboundClaim
	// available are the volumes unbound claims may bind to: free ones, or ones pre-bound to them.
	available []*corev1.PersistentVolume
}

// volumePlan is what binding a pod to a node needs done to its claims first.
type volumePlan struct {
	// static binds existing volumes to claims.
	static []staticBinding
	// provision are the claims to provision on the node.
	provision []*corev1.PersistentVolumeClaim
}

type staticBinding struct {
	pv  *corev1.PersistentVolume
	pvc *corev1.PersistentVolumeClaim
}

func (volumeBinding) name() string { return "VolumeBinding" }
func (volumeBinding) events() clusterEvent {
	return nodeAdded | nodeLabelsChanged | pvcChanged | pvChanged | storageClassChanged
}

// claimName returns the claim a volume uses, if any, and whether it is a generic ephemeral volume
// (whose claim is named after the pod and owned by it).
func claimName(pod *corev1.Pod, v *corev1.Volume) (string, bool) {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName, false
	case v.Ephemeral != nil:
		return pod.Name + "-" + v.Name, true
	}
	return "", false
}

// claimBound reports whether the claim's binding to its volume is complete.
func claimBound(pvc *corev1.PersistentVolumeClaim) bool {
	if pvc.Spec.VolumeName == "" {
		return false
	}
	return metav1.HasAnnotation(pvc.ObjectMeta, volumehelper.AnnBindCompleted) || pvc.Status.Phase == corev1.ClaimBound
}

func (p volumeBinding) preFilter(c *cycle) (bool, *status) {
	pod := c.pod.pod
	immediate := 0
	hasClaims := false
	for i := range pod.Spec.Volumes {
		name, ephemeral := claimName(pod, &pod.Spec.Volumes[i])
		if name == "" {
			continue
		}
		hasClaims = true
		pvc, err := c.lister.pvc(c.ctx, pod.Namespace, name)
		switch {
		case apierrors.IsNotFound(err) && ephemeral:
			return false, unresolvable(fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name))
		case apierrors.IsNotFound(err):
			return false, unresolvable(fmt.Sprintf("persistentvolumeclaim %q not found", name))
		case err != nil:
			return false, errorStatus(fmt.Errorf("persistentvolumeclaim %q: %w", name, err))
		}
		if pvc.Status.Phase == corev1.ClaimLost {
			return false, unresolvable(fmt.Sprintf("persistentvolumeclaim %q bound to non-existent persistentvolume %q", name, pvc.Spec.VolumeName))
		}
		if pvc.DeletionTimestamp != nil {
			return false, unresolvable(fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if ephemeral && !metav1.IsControlledBy(pvc, pod) {
			return false, unresolvable(fmt.Sprintf("PVC %s/%s was not created for pod %s/%s (pod is not owner)", pvc.Namespace, pvc.Name, pod.Namespace, pod.Name))
		}
		if claimBound(pvc) {
			pv, err := c.lister.pv(c.ctx, pvc.Spec.VolumeName)
			switch {
			case apierrors.IsNotFound(err):
				c.volumes.missingPV = true
			case err != nil:
				return false, errorStatus(fmt.Errorf("persistentvolume %q: %w", pvc.Spec.VolumeName, err))
			default:
				c.volumes.bound = append(c.volumes.bound, pv)
			}
			continue
		}
		var class *storagev1.StorageClass
		if className := volumehelper.GetPersistentVolumeClaimClass(pvc); className != "" {
			class, err = c.lister.storageClass(c.ctx, className)
			if err != nil {
				if apierrors.IsNotFound(err) {
					return false, errorStatus(fmt.Errorf("storageclass.storage.k8s.io %q not found", className))
				}
				return false, errorStatus(fmt.Errorf("storageclass %q: %w", className, err))
			}
		}
		waitForConsumer := class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
		if waitForConsumer && pvc.Spec.VolumeName == "" {
			c.volumes.unbound = append(c.volumes.unbound, unboundClaim{pvc: pvc, class: class})
		} else {
			immediate++ // the persistentvolume controller binds these; the pod waits for it
		}
	}
	if !hasClaims {
		return true, nil
	}
	if immediate > 0 {
		return false, unresolvable(reasonUnboundImmediate)
	}
	if len(c.volumes.unbound) > 0 {
		pvs, err := c.lister.pvs(c.ctx)
		if err != nil {
			return false, errorStatus(fmt.Errorf("listing persistentvolumes: %w", err))
		}
		for _, pv := range pvs {
			if !p.assumed.takenFromAll(pv.Name, c.volumes.unbound) {
				c.volumes.available = append(c.volumes.available, pv)
			}
		}
	}
	return false, nil
}

func (volumeBinding) filter(c *cycle, n *nodeInfo) *status {
	if c.volumes.missingPV {
		return unresolvable(reasonPVNotExist)
	}
	for _, pv := range c.volumes.bound {
		if err := volumehelper.CheckNodeAffinity(pv, n.node.Labels); err != nil {
			return unresolvable(reasonVolumeNodeAffinity)
		}
	}
	if _, ok := c.volumes.plan(n.node); !ok {
		return unresolvable(reasonBindConflict)
	}
	return nil
}

// plan decides, for each unbound claim, the available volume on node it binds to (the smallest that
// fits, as the persistentvolume controller would pick), or else that it is provisioned there. It
// reports false when some claim can have neither.
func (s *volumeState) plan(node *corev1.Node) (volumePlan, bool) {
	var plan volumePlan
	var chosen map[string]*corev1.PersistentVolume
	for _, claim := range s.unbound {
		pv, err := volumehelper.FindMatchingVolume(claim.pvc, s.available, node, chosen, true, false)
		if err == nil && pv != nil {
			if chosen == nil {
				chosen = map[string]*corev1.PersistentVolume{}
			}
			chosen[pv.Name] = pv
			plan.static = append(plan.static, staticBinding{pv: pv, pvc: claim.pvc})
			continue
		}
		if p := claim.class.Provisioner; p == "" || p == volumehelper.NotSupportedProvisioner {
			return plan, false
		}
		if !matchTopology(claim.class.AllowedTopologies, node.Labels) {
			return plan, false
		}
		plan.provision = append(plan.provision, claim.pvc)
	}
	return plan, true
}

// matchTopology reports whether labels satisfy one of terms; no terms allow every node.
func matchTopology(terms []corev1.TopologySelectorTerm, set labels.Set) bool {
	if len(terms) == 0 {
		return true
	}
	for _, term := range terms {
		if len(term.MatchLabelExpressions) == 0 {
			continue // an empty term selects nothing
		}
		selector := labels.NewSelector()
		valid := true
		for _, e := range term.MatchLabelExpressions {
			r, err := labels.NewRequirement(e.Key, selection.In, e.Values)
			if err != nil {
				valid = false
				break
			}
			selector = selector.Add(*r)
		}
		if valid && selector.Matches(set) {
			return true
		}
	}
	return false
}

// pvAssumptions remembers volumes the scheduler chose for claims until the API shows them bound, so
// that two pods scheduled in a row do not both take the same volume.
type pvAssumptions struct {
	mu   sync.Mutex
	byPV map[string]types.UID
}

func newPVAssumptions() *pvAssumptions {
	return &pvAssumptions{byPV: map[string]types.UID{}}
}

func (a *pvAssumptions) assume(pv string, claim types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byPV[pv] = claim
}

func (a *pvAssumptions) forget(pv string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byPV, pv)
}

// takenFromAll reports whether pv is promised to a claim other than those of claims.
func (a *pvAssumptions) takenFromAll(pv string, claims []unboundClaim) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	uid, ok := a.byPV[pv]
	if !ok {
		return false
	}
	for _, c := range claims {
		if c.pvc.UID == uid {
			return false
		}
	}
	return true
}
