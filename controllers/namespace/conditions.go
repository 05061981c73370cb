package namespace

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// conditionTypes are the namespace conditions this controller owns, in the order it adds them.
var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

// okConditions are the reason and message of each condition when all is well (status False).
var okConditions = map[corev1.NamespaceConditionType]struct{ reason, message string }{
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentRemoved", "All content successfully removed"},
}

// deletionProblems is what one pass over a namespace's content found wrong or left behind.
type deletionProblems struct {
	// discovery failed, perhaps for some groups only.
	discovery error
	// groupVersion is a discovered group version that does not parse.
	groupVersion error
	// content are the failures to delete or list one resource each.
	content []error
	// remaining counts the objects left per resource.
	remaining map[schema.GroupResource]int
	// finalizers counts the objects left per finalizer they carry.
	finalizers map[string]int
}

// conditions are the failing conditions (status True) for p; the others are set to their ok variant by
// updateConditions.
func (p deletionProblems) conditions(now metav1.Time) []corev1.NamespaceCondition {
	var out []corev1.NamespaceCondition
	failing := func(t corev1.NamespaceConditionType, reason, message string) {
		out = append(out, corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: reason, Message: message})
	}
	if p.discovery != nil {
		message := p.discovery.Error()
		var groups *discovery.ErrGroupDiscoveryFailed
		if errors.As(p.discovery, &groups) {
			message = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(groups.Groups), p.discovery)
		}
		failing(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", message)
	}
	if p.groupVersion != nil {
		failing(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", p.groupVersion.Error())
	}
	if len(p.content) > 0 {
		msgs := make([]string, 0, len(p.content))
		for _, err := range p.content {
			msgs = append(msgs, err.Error())
		}
		slices.Sort(msgs)
		failing(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(p.content), strings.Join(msgs, ", ")))
	}
	var remaining []string
	for gr, n := range p.remaining {
		if n > 0 {
			remaining = append(remaining, fmt.Sprintf("%s.%s has %d resource instances", gr.Resource, gr.Group, n))
		}
	}
	if len(remaining) > 0 {
		slices.Sort(remaining)
		failing(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(remaining, ", "))
	}
	var finalizers []string
	for f, n := range p.finalizers {
		if n > 0 {
			finalizers = append(finalizers, fmt.Sprintf("%s in %d resource instances", f, n))
		}
	}
	if len(finalizers) > 0 {
		slices.Sort(finalizers)
		failing(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: "+strings.Join(finalizers, ", "))
	}
	return out
}

// updateConditions sets each of the controller's conditions in status to its failing variant when it is
// in failing and to its ok variant otherwise, leaving other conditions alone. The transition time moves
// only when the status does. It reports whether anything changed.
func updateConditions(status *corev1.NamespaceStatus, failing []corev1.NamespaceCondition, now metav1.Time) bool {
	changed := false
	for _, t := range conditionTypes {
		want := corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: now,
			Reason: okConditions[t].reason, Message: okConditions[t].message}
		if i := slices.IndexFunc(failing, func(c corev1.NamespaceCondition) bool { return c.Type == t }); i >= 0 {
			want = failing[i]
		}
		i := slices.IndexFunc(status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == t })
		if i < 0 {
			status.Conditions = append(status.Conditions, want)
			changed = true
			continue
		}
		have := &status.Conditions[i]
		if have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message {
			continue
		}
		if have.Status != want.Status {
			have.LastTransitionTime = now
		}
		have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	return changed
}
