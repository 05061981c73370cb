package quota

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

var servicesResource = corev1.SchemeGroupVersion.WithResource("services")

// serviceResources are the quota resources a service is charged for.
var serviceResources = []corev1.ResourceName{
	generic.ObjectCountQuotaResourceNameFor(servicesResource.GroupResource()),
	corev1.ResourceServices,
	corev1.ResourceServicesNodePorts,
	corev1.ResourceServicesLoadBalancers,
}

// NewServiceEvaluator returns the evaluator of services.
func NewServiceEvaluator(listerFor quotav1.ListerForResourceFunc) quotav1.Evaluator {
	return &serviceEvaluator{list: listFuncFor(listerFor, servicesResource)}
}

type serviceEvaluator struct {
	list generic.ListFuncByNamespace
}

var _ quotav1.Evaluator = &serviceEvaluator{}

func (e *serviceEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (e *serviceEvaluator) GroupResource() schema.GroupResource {
	return servicesResource.GroupResource()
}

// Handles creates and updates: an update can change a service's type, and with it its node ports and
// load balancers.
func (e *serviceEvaluator) Handles(a admission.Attributes) bool {
	return a.GetOperation() == admission.Create || a.GetOperation() == admission.Update
}

func (e *serviceEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, e.MatchingResources, generic.MatchesNoScopeFunc)
}

func (e *serviceEvaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	return quotav1.Intersection(input, serviceResources)
}

func (e *serviceEvaluator) MatchingScopes(runtime.Object, []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return []corev1.ScopedResourceSelectorRequirement{}, nil
}

func (e *serviceEvaluator) UncoveredQuotaScopes([]corev1.ScopedResourceSelectorRequirement, []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return []corev1.ScopedResourceSelectorRequirement{}, nil
}

// Usage is one service, and its node ports and load balancer by type. A NodePort or LoadBalancer
// service is charged a node port per port, as intended before any is allocated, except a load
// balancer that allocates none: it is charged only for the node ports it names.
func (e *serviceEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	svc, ok := item.(*corev1.Service)
	if !ok || svc == nil {
		return corev1.ResourceList{}, fmt.Errorf("expected *v1.Service, got %T", item)
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	usage := corev1.ResourceList{
		serviceResources[0]:                  one,
		corev1.ResourceServices:              one,
		corev1.ResourceServicesNodePorts:     resource.Quantity{Format: resource.DecimalSI},
		corev1.ResourceServicesLoadBalancers: resource.Quantity{Format: resource.DecimalSI},
	}
	ports := int64(len(svc.Spec.Ports))
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		usage[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
	case corev1.ServiceTypeLoadBalancer:
		if svc.Spec.AllocateLoadBalancerNodePorts != nil && !*svc.Spec.AllocateLoadBalancerNodePorts {
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		usage[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		usage[corev1.ResourceServicesLoadBalancers] = one
	}
	return usage, nil
}

func (e *serviceEvaluator) UsageStats(options quotav1.UsageStatsOptions) (quotav1.UsageStats, error) {
	return generic.CalculateUsageStats(options, e.list, generic.MatchesNoScopeFunc, e.Usage)
}
