package quota

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/clock"
)

var podsResource = corev1.SchemeGroupVersion.WithResource("pods")

// podObjectCountName counts every pod stored; "pods" counts only those not yet terminal.
var podObjectCountName = generic.ObjectCountQuotaResourceNameFor(podsResource.GroupResource())

// podResources are the quota resources a pod is charged for by name.
var podResources = []corev1.ResourceName{
	podObjectCountName,
	corev1.ResourceCPU,
	corev1.ResourceMemory,
	corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU,
	corev1.ResourceRequestsMemory,
	corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU,
	corev1.ResourceLimitsMemory,
	corev1.ResourceLimitsEphemeralStorage,
	corev1.ResourcePods,
}

// podResourcePrefixes are the quota resources a pod is charged for by prefix: huge pages of any size.
var podResourcePrefixes = []string{corev1.ResourceHugePagesPrefix, corev1.ResourceRequestsHugePagesPrefix}

// requiredPerContainer are the resources that, once a quota constrains them, every container must
// state. Upstream calls this coupling of validation with counting a mistake it keeps for
// compatibility, and adds no resource to it.
var requiredPerContainer = sets.New[corev1.ResourceName](
	corev1.ResourceCPU,
	corev1.ResourceMemory,
	corev1.ResourceRequestsCPU,
	corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU,
	corev1.ResourceLimitsMemory,
)

// NewPodEvaluator returns the evaluator of pods.
func NewPodEvaluator(listerFor quotav1.ListerForResourceFunc, clk clock.PassiveClock) quotav1.Evaluator {
	return &podEvaluator{list: listFuncFor(listerFor, podsResource), clock: clk}
}

type podEvaluator struct {
	list  generic.ListFuncByNamespace
	clock clock.PassiveClock
}

var _ quotav1.Evaluator = &podEvaluator{}

// Constraints refuses a pod of which a container does not state a compute resource the quota
// constrains, naming the resources and containers: "must specify limits.cpu for: app,sidecar".
func (e *podEvaluator) Constraints(required []corev1.ResourceName, item runtime.Object) error {
	pod, err := toPod(item)
	if err != nil {
		return err
	}
	mustState := sets.New(required...).Intersection(requiredPerContainer)
	if mustState.Len() == 0 {
		return nil
	}
	missing := map[corev1.ResourceName]sets.Set[string]{}
	check := func(c *corev1.Container) {
		stated := containerUsage(c.Resources.Requests, c.Resources.Limits)
		for name := range mustState {
			if _, ok := stated[name]; !ok {
				if missing[name] == nil {
					missing[name] = sets.New[string]()
				}
				missing[name].Insert(c.Name)
			}
		}
	}
	for i := range pod.Spec.Containers {
		check(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		check(&pod.Spec.InitContainers[i])
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for name := range missing {
		names = append(names, string(name))
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s for: %s", name, strings.Join(sets.List(missing[corev1.ResourceName(name)]), ",")))
	}
	return fmt.Errorf("must specify %s", strings.Join(parts, "; "))
}

func (e *podEvaluator) GroupResource() schema.GroupResource { return podsResource.GroupResource() }

// Handles says which requests can change what pods use: creating one, and resizing one in place.
func (e *podEvaluator) Handles(a admission.Attributes) bool {
	switch a.GetSubresource() {
	case "":
		return a.GetOperation() == admission.Create
	case "resize":
		return a.GetOperation() == admission.Update
	}
	return false
}

func (e *podEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, e.MatchingResources, podMatchesScope)
}

func (e *podEvaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	result := quotav1.Intersection(input, podResources)
	for _, name := range input {
		if quotav1.ContainsPrefix(podResourcePrefixes, name) || isExtendedResourceQuotaName(name) {
			result = append(result, name)
		}
	}
	return result
}

func (e *podEvaluator) MatchingScopes(item runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return matchingScopes(item, scopes, podMatchesScope)
}

func (e *podEvaluator) UncoveredQuotaScopes(limitedScopes, matchedQuotaScopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return uncoveredScopes(limitedScopes, matchedQuotaScopes), nil
}

// Usage is what a pod uses: count/pods always, and, until it is terminal or stuck terminating past
// its grace period, "pods" and its effective requests and limits (init containers, sidecars,
// overhead and pod-level resources included).
func (e *podEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	pod, err := toPod(item)
	if err != nil {
		return corev1.ResourceList{}, err
	}
	usage := corev1.ResourceList{podObjectCountName: *resource.NewQuantity(1, resource.DecimalSI)}
	if !PodCharged(pod, e.clock.Now()) {
		return usage, nil
	}
	opts := resourcehelper.PodResourcesOptions{UseStatusResources: true}
	requests := resourcehelper.PodRequests(pod, opts)
	limits := resourcehelper.PodLimits(pod, opts)
	return quotav1.Add(usage, containerUsage(requests, limits)), nil
}

func (e *podEvaluator) UsageStats(options quotav1.UsageStatsOptions) (quotav1.UsageStats, error) {
	return generic.CalculateUsageStats(options, e.list, podMatchesScope, e.Usage)
}

// PodCharged says whether a pod still counts against compute quota at now: a terminal pod does not,
// nor one whose deletion grace period has run out (its node may be lost, and the user must be able
// to replace it).
func PodCharged(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		grace := time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		if now.After(pod.DeletionTimestamp.Add(grace)) {
			return false
		}
	}
	return true
}

// containerUsage maps requests and limits to the quota resources they are charged as.
func containerUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	usage := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(1, resource.DecimalSI)}
	for _, r := range []struct{ name, request, limit corev1.ResourceName }{
		{corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	} {
		if q, ok := requests[r.name]; ok {
			usage[r.name] = q
			usage[r.request] = q
		}
		if q, ok := limits[r.name]; ok {
			usage[r.limit] = q
		}
	}
	for name, q := range requests {
		switch {
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			usage[name] = q
			usage[corev1.DefaultResourceRequestsPrefix+name] = q
		case isExtendedResourceName(name):
			// Extended resources cannot be overcommitted: only requests.<name> exists for quota.
			usage[corev1.DefaultResourceRequestsPrefix+name] = q
		}
	}
	return usage
}

// podMatchesScope says whether a pod is in a quota's scope.
func podMatchesScope(scope corev1.ScopedResourceSelectorRequirement, item runtime.Object) (bool, error) {
	pod, err := toPod(item)
	if err != nil {
		return false, err
	}
	switch scope.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return isBestEffort(pod), nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !isBestEffort(pod), nil
	case corev1.ResourceQuotaScopePriorityClass:
		if scope.Operator == corev1.ScopeSelectorOpExists {
			return pod.Spec.PriorityClassName != "", nil
		}
		var values labels.Set
		if pod.Spec.PriorityClassName != "" {
			values = labels.Set{string(corev1.ResourceQuotaScopePriorityClass): pod.Spec.PriorityClassName}
		}
		return scopeSelectorMatches(scope, values)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return usesCrossNamespacePodAffinity(pod), nil
	}
	return false, nil
}

// isTerminating: a pod with an active deadline ends by itself.
func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// isBestEffort: the pod's QoS class is BestEffort, as the API server recorded it at creation or, for
// a pod not stored yet, as computed from its cpu and memory requests and limits.
func isBestEffort(pod *corev1.Pod) bool {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass == corev1.PodQOSBestEffort
	}
	positive := func(list corev1.ResourceList) bool {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := list[name]; ok && q.Sign() > 0 {
				return true
			}
		}
		return false
	}
	if resourcehelper.IsPodLevelResourcesSet(pod) {
		return !positive(pod.Spec.Resources.Requests) && !positive(pod.Spec.Resources.Limits)
	}
	for _, containers := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range containers {
			if positive(containers[i].Resources.Requests) || positive(containers[i].Resources.Limits) {
				return false
			}
		}
	}
	return true
}

// usesCrossNamespacePodAffinity: a pod (anti-)affinity term of the pod looks at other namespaces.
func usesCrossNamespacePodAffinity(pod *corev1.Pod) bool {
	if pod.Spec.Affinity == nil {
		return false
	}
	crossNamespace := func(terms []corev1.PodAffinityTerm, weighted []corev1.WeightedPodAffinityTerm) bool {
		for i := range terms {
			if len(terms[i].Namespaces) != 0 || terms[i].NamespaceSelector != nil {
				return true
			}
		}
		for i := range weighted {
			t := &weighted[i].PodAffinityTerm
			if len(t.Namespaces) != 0 || t.NamespaceSelector != nil {
				return true
			}
		}
		return false
	}
	if a := pod.Spec.Affinity.PodAffinity; a != nil &&
		crossNamespace(a.RequiredDuringSchedulingIgnoredDuringExecution, a.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	if a := pod.Spec.Affinity.PodAntiAffinity; a != nil &&
		crossNamespace(a.RequiredDuringSchedulingIgnoredDuringExecution, a.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	return false
}

// isNativeResource: an unprefixed name or one in the kubernetes.io/ domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedResourceName: a resource a device plugin or the cluster operator defines, such as
// example.com/gpu, whose quota name requests.<name> is a valid qualified name.
func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// isExtendedResourceQuotaName: requests.<extended resource>, the only quota name of one.
func isExtendedResourceQuotaName(name corev1.ResourceName) bool {
	return !isNativeResource(name) && strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix)
}

func toPod(item runtime.Object) (*corev1.Pod, error) {
	pod, ok := item.(*corev1.Pod)
	if !ok || pod == nil {
		return nil, fmt.Errorf("expected *v1.Pod, got %T", item)
	}
	return pod, nil
}
