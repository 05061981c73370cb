// Package quota measures what objects use of a ResourceQuota. Its evaluators implement
// k8s.io/apiserver's quota.Evaluator as upstream's pkg/quota/v1/evaluator/core does: pods (compute
// requests and limits, pods, count/pods, with the Terminating, NotTerminating, BestEffort,
// NotBestEffort, PriorityClass and CrossNamespacePodAffinity scopes), services (services,
// services.nodeports, services.loadbalancers), persistent volume claims (persistentvolumeclaims,
// requests.storage and their <class>.storageclass.storage.k8s.io/ forms, the VolumeAttributesClass
// scope), and object counts, count/<resource>.<group>, for everything else.
//
// The same evaluators serve both halves of quota: the API server's ResourceQuota admission charges one
// request at a time and never lists, and the resourcequota controller recalculates status.used from
// the objects a lister gives them. So this package sits below both and talks to no API itself.
package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/utils/clock"
)

// legacyObjectCounts are the object counts that also have a name from before count/<resource>
// existed; a quota may use either.
var legacyObjectCounts = map[schema.GroupVersionResource]corev1.ResourceName{
	corev1.SchemeGroupVersion.WithResource("configmaps"):             corev1.ResourceConfigMaps,
	corev1.SchemeGroupVersion.WithResource("resourcequotas"):         corev1.ResourceQuotas,
	corev1.SchemeGroupVersion.WithResource("replicationcontrollers"): corev1.ResourceReplicationControllers,
	corev1.SchemeGroupVersion.WithResource("secrets"):                corev1.ResourceSecrets,
}

// NewEvaluators returns the evaluators of pods, services, persistent volume claims and the object
// counts with legacy names. listerFor gives them the objects of a resource when usage stats are
// calculated; nil means they are never asked to (admission), and UsageStats then fails.
func NewEvaluators(listerFor quotav1.ListerForResourceFunc, clk clock.PassiveClock) []quotav1.Evaluator {
	evaluators := []quotav1.Evaluator{
		NewPodEvaluator(listerFor, clk),
		NewServiceEvaluator(listerFor),
		NewPersistentVolumeClaimEvaluator(listerFor),
	}
	for gvr, alias := range legacyObjectCounts {
		evaluators = append(evaluators, generic.NewObjectCountEvaluator(gvr.GroupResource(), listFuncFor(listerFor, gvr), alias))
	}
	return evaluators
}

// NewObjectCountEvaluator returns the evaluator that counts the objects of gvr as
// count/<resource>.<group>.
func NewObjectCountEvaluator(gvr schema.GroupVersionResource, listerFor quotav1.ListerForResourceFunc) quotav1.Evaluator {
	return generic.NewObjectCountEvaluator(gvr.GroupResource(), listFuncFor(listerFor, gvr), "")
}

// IgnoredResources are never charged to a quota. Events are written by the system on the user's
// behalf, so counting them would let a noisy controller exhaust a namespace's quota.
func IgnoredResources() map[schema.GroupResource]struct{} {
	return map[schema.GroupResource]struct{}{{Group: "", Resource: "events"}: {}}
}

// AdmissionConfiguration is the quota configuration of the ResourceQuota admission plugin: every
// evaluator, none of them listing.
func AdmissionConfiguration() quotav1.Configuration {
	return generic.NewConfiguration(NewEvaluators(nil, clock.RealClock{}), IgnoredResources())
}

// ObjectCountResource returns the group and resource that an object count quota resource
// ("count/<resource>" for the core group, "count/<resource>.<group>" otherwise) counts.
func ObjectCountResource(name corev1.ResourceName) (schema.GroupResource, bool) {
	rest, ok := strings.CutPrefix(string(name), "count/")
	if !ok || rest == "" {
		return schema.GroupResource{}, false
	}
	resource, group, _ := strings.Cut(rest, ".")
	if resource == "" {
		return schema.GroupResource{}, false
	}
	return schema.GroupResource{Group: group, Resource: resource}, true
}

// listFuncFor lists gvr through listerFor, or fails when there is no lister.
func listFuncFor(listerFor quotav1.ListerForResourceFunc, gvr schema.GroupVersionResource) generic.ListFuncByNamespace {
	if listerFor == nil {
		return func(string) ([]runtime.Object, error) {
			return nil, fmt.Errorf("no lister of %s: usage stats are not available here", gvr)
		}
	}
	return generic.ListResourceUsingListerFunc(listerFor, gvr)
}

// uncoveredScopes are the scopes of limitedScopes that none of matchedQuotaScopes names.
func uncoveredScopes(limitedScopes, matchedQuotaScopes []corev1.ScopedResourceSelectorRequirement) []corev1.ScopedResourceSelectorRequirement {
	uncovered := []corev1.ScopedResourceSelectorRequirement{}
	for _, limited := range limitedScopes {
		covered := false
		for _, matched := range matchedQuotaScopes {
			if matched.ScopeName == limited.ScopeName {
				covered = true
				break
			}
		}
		if !covered {
			uncovered = append(uncovered, limited)
		}
	}
	return uncovered
}

// matchingScopes are the selectors of scopes that item matches, by match.
func matchingScopes(item runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement,
	match generic.MatchesScopeFunc) ([]corev1.ScopedResourceSelectorRequirement, error) {
	matched := []corev1.ScopedResourceSelectorRequirement{}
	for _, scope := range scopes {
		ok, err := match(scope, item)
		if err != nil {
			return []corev1.ScopedResourceSelectorRequirement{}, fmt.Errorf("error on matching scope %v: %w", scope, err)
		}
		if ok {
			matched = append(matched, scope)
		}
	}
	return matched, nil
}

// scopeSelectorMatches evaluates a scope selector requirement (In, NotIn, Exists, DoesNotExist) as a
// label requirement on the scope's name against values, the item's value for that scope if it has
// one.
func scopeSelectorMatches(scope corev1.ScopedResourceSelectorRequirement, values labels.Set) (bool, error) {
	var op selection.Operator
	switch scope.Operator {
	case corev1.ScopeSelectorOpIn:
		op = selection.In
	case corev1.ScopeSelectorOpNotIn:
		op = selection.NotIn
	case corev1.ScopeSelectorOpExists:
		op = selection.Exists
	case corev1.ScopeSelectorOpDoesNotExist:
		op = selection.DoesNotExist
	default:
		return false, fmt.Errorf("%q is not a valid scope selector operator", scope.Operator)
	}
	req, err := labels.NewRequirement(string(scope.ScopeName), op, scope.Values)
	if err != nil {
		return false, fmt.Errorf("failed to parse and convert selector: %w", err)
	}
	return labels.NewSelector().Add(*req).Matches(values), nil
}
