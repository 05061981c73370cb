package replicationcontroller

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestReplicationControllerSeenAsReplicaSet(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "u", Generation: 3},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(int32(2)), MinReadySeconds: 7, Selector: map[string]string{"app": "x"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}},
		},
		Status: corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 1, ObservedGeneration: 2,
			Conditions: []corev1.ReplicationControllerCondition{{Type: corev1.ReplicationControllerReplicaFailure,
				Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "quota", LastTransitionTime: since}}},
	}
	rs := asReplicaSet(rc)
	if rs.Name != "rc" || rs.UID != "u" || rs.Generation != 3 || *rs.Spec.Replicas != 2 || rs.Spec.MinReadySeconds != 7 ||
		rs.Spec.Selector.MatchLabels["app"] != "x" || rs.Spec.Template.Labels["app"] != "x" {
		t.Errorf("replica set %+v", rs)
	}
	if c := rs.Status.Conditions; len(c) != 1 || c[0].Type != appsv1.ReplicaSetReplicaFailure || c[0].Reason != "FailedCreate" {
		t.Errorf("conditions %+v", c)
	}
	// The status goes back unchanged.
	if back := fromReplicaSetStatus(rs.Status); !equality.Semantic.DeepEqual(back, rc.Status) {
		t.Errorf("round trip of the status: %+v, want %+v", back, rc.Status)
	}
	rs.Spec.Template.Labels["app"] = "changed"
	if rc.Spec.Template.Labels["app"] != "x" {
		t.Error("the view shares the template with the controller")
	}

	// No selector and no template: a view that selects and makes nothing, rather than a panic.
	empty := asReplicaSet(&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "e"}})
	if empty.Spec.Selector != nil || len(empty.Spec.Template.Labels) != 0 {
		t.Errorf("empty controller seen as %+v", empty.Spec)
	}
}
