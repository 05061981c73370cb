package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"
)

var claimsResource = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")

var claimObjectCountName = generic.ObjectCountQuotaResourceNameFor(claimsResource.GroupResource())

// claimResources are the quota resources a claim is charged for, also per storage class as
// <class>.storageclass.storage.k8s.io/<resource>.
var claimResources = []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage}

// storageClassSuffix joins a storage class and a claim resource into the quota resource of that
// class: gold.storageclass.storage.k8s.io/requests.storage.
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// ResourceByStorageClass is the quota resource name of a claim resource within one storage class.
func ResourceByStorageClass(class string, name corev1.ResourceName) corev1.ResourceName {
	return corev1.ResourceName(class + storageClassSuffix + string(name))
}

// NewPersistentVolumeClaimEvaluator returns the evaluator of persistent volume claims.
func NewPersistentVolumeClaimEvaluator(listerFor quotav1.ListerForResourceFunc) quotav1.Evaluator {
	return &claimEvaluator{list: listFuncFor(listerFor, claimsResource)}
}

type claimEvaluator struct {
	list generic.ListFuncByNamespace
}

var _ quotav1.Evaluator = &claimEvaluator{}

func (e *claimEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (e *claimEvaluator) GroupResource() schema.GroupResource { return claimsResource.GroupResource() }

// Handles creates and updates of claims (a bound claim may grow), and status updates that change
// what the claim is charged for (its allocated size, its volume attributes classes).
func (e *claimEvaluator) Handles(a admission.Attributes) bool {
	switch a.GetSubresource() {
	case "":
		return a.GetOperation() == admission.Create || a.GetOperation() == admission.Update
	case "status":
		claim, ok1 := a.GetObject().(*corev1.PersistentVolumeClaim)
		old, ok2 := a.GetOldObject().(*corev1.PersistentVolumeClaim)
		return ok1 && ok2 && claim != nil && old != nil && ClaimStatusChangesUsage(old, claim)
	}
	return false
}

func (e *claimEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, e.MatchingResources, claimMatchesScope)
}

func (e *claimEvaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	result := []corev1.ResourceName{}
	for _, name := range input {
		if name == claimObjectCountName || quotav1.Contains(claimResources, name) {
			result = append(result, name)
			continue
		}
		for _, r := range claimResources {
			if strings.HasSuffix(string(name), storageClassSuffix+string(r)) {
				result = append(result, name)
				break
			}
		}
	}
	return result
}

func (e *claimEvaluator) MatchingScopes(item runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return matchingScopes(item, scopes, claimMatchesScope)
}

func (e *claimEvaluator) UncoveredQuotaScopes(limitedScopes, matchedQuotaScopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return uncoveredScopes(limitedScopes, matchedQuotaScopes), nil
}

// Usage is one claim and its storage, in total and within its storage class.
func (e *claimEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	claim, err := toClaim(item)
	if err != nil {
		return corev1.ResourceList{}, err
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	usage := corev1.ResourceList{corev1.ResourcePersistentVolumeClaims: one, claimObjectCountName: one}
	class := storagehelpers.GetPersistentVolumeClaimClass(claim)
	if class != "" {
		usage[ResourceByStorageClass(class, corev1.ResourcePersistentVolumeClaims)] = one
	}
	if storage := claimStorage(claim); storage != nil {
		usage[corev1.ResourceRequestsStorage] = *storage
		if class != "" {
			usage[ResourceByStorageClass(class, corev1.ResourceRequestsStorage)] = *storage
		}
	}
	return usage, nil
}

func (e *claimEvaluator) UsageStats(options quotav1.UsageStatsOptions) (quotav1.UsageStats, error) {
	return generic.CalculateUsageStats(options, e.list, claimMatchesScope, e.Usage)
}

// claimStorage is the storage a claim is charged for: its request, or what was allocated to it if
// more (an expansion in progress), in whole bytes.
func claimStorage(claim *corev1.PersistentVolumeClaim) *resource.Quantity {
	request, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	if allocated, ok := claim.Status.AllocatedResources[corev1.ResourceStorage]; ok && allocated.Cmp(request) > 0 {
		request = allocated
	}
	rounded := request.DeepCopy()
	rounded.RoundUp(0)
	return &rounded
}

// ClaimStatusChangesUsage says whether a status change of a claim changes what it is charged for.
func ClaimStatusChangesUsage(old, claim *corev1.PersistentVolumeClaim) bool {
	oldAllocated, oldOK := old.Status.AllocatedResources[corev1.ResourceStorage]
	allocated, ok := claim.Status.AllocatedResources[corev1.ResourceStorage]
	if oldOK != ok || oldAllocated.Cmp(allocated) != 0 {
		return true
	}
	return !volumeAttributesClasses(old).Equal(volumeAttributesClasses(claim))
}

// claimMatchesScope says whether a claim is in a quota's scope: only VolumeAttributesClass applies
// to claims.
func claimMatchesScope(scope corev1.ScopedResourceSelectorRequirement, item runtime.Object) (bool, error) {
	claim, err := toClaim(item)
	if err != nil {
		return false, err
	}
	if scope.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
		return false, nil
	}
	classes := volumeAttributesClasses(claim)
	if scope.Operator == corev1.ScopeSelectorOpExists {
		return classes.Len() != 0, nil
	}
	if classes.Len() == 0 {
		return scopeSelectorMatches(scope, labels.Set{})
	}
	for _, class := range sets.List(classes) {
		ok, err := scopeSelectorMatches(scope, labels.Set{string(corev1.ResourceQuotaScopeVolumeAttributesClass): class})
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// volumeAttributesClasses are the volume attributes classes a claim asks for, has, or is moving to.
func volumeAttributesClasses(claim *corev1.PersistentVolumeClaim) sets.Set[string] {
	names := sets.New[string]()
	if name := ptr.Deref(claim.Spec.VolumeAttributesClassName, ""); name != "" {
		names.Insert(name)
	}
	if name := ptr.Deref(claim.Status.CurrentVolumeAttributesClassName, ""); name != "" {
		names.Insert(name)
	}
	if s := claim.Status.ModifyVolumeStatus; s != nil && s.TargetVolumeAttributesClassName != "" {
		names.Insert(s.TargetVolumeAttributesClassName)
	}
	return names
}

func toClaim(item runtime.Object) (*corev1.PersistentVolumeClaim, error) {
	claim, ok := item.(*corev1.PersistentVolumeClaim)
	if !ok || claim == nil {
		return nil, fmt.Errorf("expected *v1.PersistentVolumeClaim, got %T", item)
	}
	return claim, nil
}
