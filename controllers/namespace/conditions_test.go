package namespace

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

func ok(t corev1.NamespaceConditionType, at metav1.Time) corev1.NamespaceCondition {
	return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: at,
		Reason: okConditions[t].reason, Message: okConditions[t].message}
}

func TestDeletionProblemsConditions(t *testing.T) {
	now := metav1.Now()
	failing := func(typ corev1.NamespaceConditionType, reason, message string) corev1.NamespaceCondition {
		return corev1.NamespaceCondition{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: reason, Message: message}
	}
	tests := []struct {
		name     string
		problems deletionProblems
		want     []corev1.NamespaceCondition
	}{
		{name: "no problem, no failing condition"},
		{
			name: "resources remaining are listed by resource.group, sorted",
			problems: deletionProblems{remaining: map[schema.GroupResource]int{
				{Resource: "pods"}: 2, {Group: "apps", Resource: "deployments"}: 5, {Resource: "secrets"}: 0}},
			want: []corev1.NamespaceCondition{failing(corev1.NamespaceContentRemaining, "SomeResourcesRemain",
				"Some resources are remaining: deployments.apps has 5 resource instances, pods. has 2 resource instances")},
		},
		{
			name:     "finalizers remaining are counted, sorted",
			problems: deletionProblems{finalizers: map[string]int{"service-catalog": 6, "kubedb": 5}},
			want: []corev1.NamespaceCondition{failing(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain",
				"Some content in the namespace has finalizers remaining: kubedb in 5 resource instances, service-catalog in 6 resource instances")},
		},
		{
			name: "partial discovery failure says how many groups failed",
			problems: deletionProblems{discovery: &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{
				{Group: "metrics.k8s.io", Version: "v1beta1"}: errors.New("503")}}},
			want: []corev1.NamespaceCondition{failing(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed",
				"Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: 503")},
		},
		{
			name:     "other discovery failures give their message",
			problems: deletionProblems{discovery: errors.New("connection refused")},
			want:     []corev1.NamespaceCondition{failing(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", "connection refused")},
		},
		{
			name:     "an unparsable group version",
			problems: deletionProblems{groupVersion: errors.New("unexpected GroupVersion string: a/b/c")},
			want: []corev1.NamespaceCondition{failing(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed",
				"unexpected GroupVersion string: a/b/c")},
		},
		{
			name:     "content failures are counted and sorted",
			problems: deletionProblems{content: []error{errors.New("b failed"), errors.New("a failed")}},
			want: []corev1.NamespaceCondition{failing(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
				"Failed to delete all resource types, 2 remaining: a failed, b failed")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.problems.conditions(now); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("conditions() =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestUpdateConditions(t *testing.T) {
	then := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	remaining := corev1.NamespaceCondition{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, LastTransitionTime: now,
		Reason: "SomeResourcesRemain", Message: "Some resources are remaining: pods. has 1 resource instances"}
	allOK := func(at metav1.Time) []corev1.NamespaceCondition {
		var out []corev1.NamespaceCondition
		for _, typ := range conditionTypes {
			out = append(out, ok(typ, at))
		}
		return out
	}
	tests := []struct {
		name    string
		have    []corev1.NamespaceCondition
		failing []corev1.NamespaceCondition
		want    []corev1.NamespaceCondition
		changed bool
	}{
		{
			name:    "all conditions are added in order, ok when nothing fails",
			want:    allOK(now),
			changed: true,
		},
		{
			name:    "conditions of others are left alone",
			have:    []corev1.NamespaceCondition{{Type: "Other", Status: corev1.ConditionTrue}},
			want:    append([]corev1.NamespaceCondition{{Type: "Other", Status: corev1.ConditionTrue}}, allOK(now)...),
			changed: true,
		},
		{
			name:    "unchanged conditions are not rewritten",
			have:    allOK(then),
			want:    allOK(then),
			changed: false,
		},
		{
			name:    "a failing condition replaces the ok one with a new transition time",
			have:    allOK(then),
			failing: []corev1.NamespaceCondition{remaining},
			want: []corev1.NamespaceCondition{ok(conditionTypes[0], then), ok(conditionTypes[1], then), ok(conditionTypes[2], then),
				remaining, ok(conditionTypes[4], then)},
			changed: true,
		},
		{
			name: "a new message keeps the transition time when the status stays",
			have: []corev1.NamespaceCondition{ok(conditionTypes[0], then), ok(conditionTypes[1], then), ok(conditionTypes[2], then),
				{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, LastTransitionTime: then, Reason: "SomeResourcesRemain",
					Message: "Some resources are remaining: pods. has 2 resource instances"},
				ok(conditionTypes[4], then)},
			failing: []corev1.NamespaceCondition{remaining},
			want: []corev1.NamespaceCondition{ok(conditionTypes[0], then), ok(conditionTypes[1], then), ok(conditionTypes[2], then),
				{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, LastTransitionTime: then, Reason: "SomeResourcesRemain",
					Message: remaining.Message},
				ok(conditionTypes[4], then)},
			changed: true,
		},
		{
			name: "a failing condition that clears goes back to ok",
			have: []corev1.NamespaceCondition{ok(conditionTypes[0], then), ok(conditionTypes[1], then), ok(conditionTypes[2], then),
				remaining, ok(conditionTypes[4], then)},
			want: []corev1.NamespaceCondition{ok(conditionTypes[0], then), ok(conditionTypes[1], then), ok(conditionTypes[2], then),
				ok(corev1.NamespaceContentRemaining, now), ok(conditionTypes[4], then)},
			changed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := &corev1.NamespaceStatus{Conditions: tt.have}
			changed := updateConditions(status, tt.failing, now)
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			if !reflect.DeepEqual(status.Conditions, tt.want) {
				t.Errorf("conditions =\n%v\nwant\n%v", status.Conditions, tt.want)
			}
		})
	}
}
