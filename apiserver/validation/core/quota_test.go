package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validQuota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "team-a", ResourceVersion: "1"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods:            resource.MustParse("20"),
			corev1.ResourceRequestsCPU:     resource.MustParse("4"),
			corev1.ResourceLimitsMemory:    resource.MustParse("16Gi"),
			"count/deployments.apps":       resource.MustParse("10"),
			"requests.example.com/gpu":     resource.MustParse("2"),
			corev1.ResourceRequestsStorage: resource.MustParse("100Gi"),
		}},
	}
}

func TestValidateResourceQuota(t *testing.T) {
	runCases(t, validQuota, ValidateResourceQuota, []tcase[corev1.ResourceQuota]{
		{name: "valid quota passes"},
		{name: "pod scopes pass on pod resources", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5"), corev1.ResourceCPU: resource.MustParse("2")}
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort}
		}},
		{name: "priority class selector passes", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}
		}},
		{name: "name is a DNS subdomain", mutate: func(q *corev1.ResourceQuota) { q.Name = "Compute" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "unprefixed resources are standard quota resources", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard["gpus"] = resource.MustParse("1") },
			typ: field.ErrorTypeInvalid, field: "spec.hard[gpus]"},
		{name: "quantities are not negative", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("-1") },
			typ: field.ErrorTypeInvalid, field: "spec.hard[requests.cpu]"},
		{name: "object counts are whole", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1.5") },
			typ: field.ErrorTypeInvalid, field: "spec.hard[pods]", detail: "must be an integer"},
		{name: "scopes are known", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"Sometimes"}
		}, typ: field.ErrorTypeInvalid, field: "spec.scopes", detail: "unsupported scope"},
		{name: "scopes fit the resources", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
		},
			typ: field.ErrorTypeInvalid, field: "spec.scopes", detail: "unsupported scope applied to resource"},
		{name: "scopes may not conflict", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating}
		}, typ: field.ErrorTypeInvalid, field: "spec.scopes", detail: "conflicting scopes"},
		{name: "valueless scopes use Exists", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopeBestEffort, Operator: corev1.ScopeSelectorOpIn, Values: []string{"x"}}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.scopeSelector.matchExpressions.operator"},
		{name: "In needs values", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn}}}
		}, typ: field.ErrorTypeRequired, field: "spec.scopeSelector.matchExpressions.values"},
	})
	runUpdateCases(t, validQuota, ValidateResourceQuotaUpdate, []ucase[corev1.ResourceQuota]{
		{name: "hard limits may change", change: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("30") }},
		{name: "scopes are immutable", change: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}
		}, typ: field.ErrorTypeInvalid, field: "spec.scopes", detail: "field is immutable"},
	})
	runUpdateCases(t, validQuota, ValidateResourceQuotaStatusUpdate, []ucase[corev1.ResourceQuota]{
		{name: "usage may be reported", change: func(q *corev1.ResourceQuota) {
			q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}}
		}},
		{name: "usage is not negative", change: func(q *corev1.ResourceQuota) {
			q.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("-3")}
		}, typ: field.ErrorTypeInvalid, field: "status.used[pods]"},
		{name: "resourceVersion is required", change: func(q *corev1.ResourceQuota) { q.ResourceVersion = "" }, typ: field.ErrorTypeRequired, field: "resourceVersion"},
	})
}

func validLimitRange() *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "team-a", ResourceVersion: "1"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{
				Type:                 corev1.LimitTypeContainer,
				Min:                  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
				Max:                  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Default:              corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				DefaultRequest:       corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10")},
			},
			{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}},
			{Type: corev1.LimitTypePersistentVolumeClaim, Min: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}},
	}
}

func TestValidateLimitRange(t *testing.T) {
	runCases(t, validLimitRange, ValidateLimitRange, []tcase[corev1.LimitRange]{
		{name: "valid limit range passes"},
		{name: "name is a DNS subdomain", mutate: func(l *corev1.LimitRange) { l.Name = "Defaults" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "types are standard or qualified", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Type = "Node" },
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].type"},
		{name: "types are unique", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[1].Type = corev1.LimitTypeContainer },
			typ: field.ErrorTypeDuplicate, field: "spec.limits[1].type"},
		{name: "min is at most max", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Min[corev1.ResourceCPU] = resource.MustParse("3") },
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].min[cpu]", detail: "min value 3 is greater than max value 2"},
		{name: "default is at most max", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Default[corev1.ResourceCPU] = resource.MustParse("4") },
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].default[cpu]", detail: "default value 4 is greater than max value 2"},
		{name: "default request is at most default", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].DefaultRequest[corev1.ResourceCPU] = resource.MustParse("1")
		},
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].defaultRequest[cpu]", detail: "greater than default limit value"},
		{name: "default request is at least min", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].DefaultRequest[corev1.ResourceCPU] = resource.MustParse("10m")
		},
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].defaultRequest[cpu]", detail: "min value 50m is greater than default request value 10m"},
		{name: "ratio is at least 1", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].MaxLimitRequestRatio[corev1.ResourceCPU] = resource.MustParse("500m")
		},
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].maxLimitRequestRatio[cpu]", detail: "is less than 1"},
		{name: "ratio fits max over min", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].MaxLimitRequestRatio[corev1.ResourceCPU] = resource.MustParse("50")
		},
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].maxLimitRequestRatio[cpu]", detail: "is greater than max/min"},
		{name: "pod limits have no defaults", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[1].Default = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
		},
			typ: field.ErrorTypeForbidden, field: "spec.limits[1].default"},
		{name: "claim limits need storage bounds", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[2].Min = nil },
			typ: field.ErrorTypeRequired, field: "spec.limits[2].limits"},
		{name: "container limits use container resources", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Max[corev1.ResourceStorage] = resource.MustParse("1Gi") },
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].max[storage]"},
		{name: "extended resource defaults equal their requests", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].Default["example.com/gpu"] = resource.MustParse("2")
			l.Spec.Limits[0].DefaultRequest["example.com/gpu"] = resource.MustParse("1")
		}, typ: field.ErrorTypeInvalid, field: "spec.limits[0].defaultRequest[example.com/gpu]"},
	})
	runUpdateCases(t, validLimitRange, ValidateLimitRangeUpdate, []ucase[corev1.LimitRange]{
		{name: "limits may change", change: func(l *corev1.LimitRange) { l.Spec.Limits = l.Spec.Limits[:1] }},
		{name: "the new spec is validated", change: func(l *corev1.LimitRange) { l.Spec.Limits[0].Min[corev1.ResourceCPU] = resource.MustParse("3") },
			typ: field.ErrorTypeInvalid, field: "spec.limits[0].min[cpu]"},
	})
}
