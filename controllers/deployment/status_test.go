package deployment

import (
	"math"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestCalculateStatus(t *testing.T) {
	d := testDeployment(10, intstr.FromInt32(3), intstr.FromInt32(2))
	d.Generation = 7
	d.Status.CollisionCount = ptr.To(int32(1))
	old, cur := testRS("old", 6, 7, 6, 0), testRS("new", 4, 3, 2, 1)
	old.Status.TerminatingReplicas, cur.Status.TerminatingReplicas = ptr.To(int32(1)), ptr.To(int32(2))
	s := calculateStatus([]*appsv1.ReplicaSet{old, cur, nil}, cur, d, t0)
	want := appsv1.DeploymentStatus{ObservedGeneration: 7, Replicas: 10, UpdatedReplicas: 3, ReadyReplicas: 8,
		AvailableReplicas: 8, UnavailableReplicas: 2, CollisionCount: ptr.To(int32(1))}
	if s.ObservedGeneration != want.ObservedGeneration || s.Replicas != want.Replicas || s.UpdatedReplicas != want.UpdatedReplicas ||
		s.ReadyReplicas != want.ReadyReplicas || s.AvailableReplicas != want.AvailableReplicas ||
		s.UnavailableReplicas != want.UnavailableReplicas || *s.CollisionCount != 1 || ptr.Deref(s.TerminatingReplicas, -1) != 3 {
		t.Errorf("status %+v", s)
	}
	if c := getCondition(s, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != reasonMinimumReplicasAvailable {
		t.Errorf("8 of 10 available with 2 allowed unavailable: Available %+v", c)
	}
	cur.Status.AvailableReplicas = 1
	s = calculateStatus([]*appsv1.ReplicaSet{old, cur}, cur, d, t0)
	if c := getCondition(s, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != reasonMinimumReplicasUnavailable {
		t.Errorf("7 of 10 available: Available %+v", c)
	}
	if len(d.Status.Conditions) != 0 {
		t.Error("the Deployment's own status was changed")
	}
}

func TestTerminatingReplicas(t *testing.T) {
	synced := func(n *int32) *appsv1.ReplicaSet {
		rs := testRS("x", 1, 1, 1, 0)
		rs.Status.ObservedGeneration, rs.Status.TerminatingReplicas = 1, n
		return rs
	}
	if got := terminatingReplicas([]*appsv1.ReplicaSet{synced(ptr.To(int32(2))), synced(ptr.To(int32(1))), testRS("never-synced", 1, 0, 0, 0)}); ptr.Deref(got, -1) != 3 {
		t.Errorf("sum %v, want 3", got)
	}
	if got := terminatingReplicas([]*appsv1.ReplicaSet{synced(ptr.To(int32(2))), synced(nil)}); got != nil {
		t.Errorf("a ReplicaSet that does not count them: %v, want none", *got)
	}
}

func TestDeploymentComplete(t *testing.T) {
	tests := []struct {
		name                               string
		desired, current, updated, availab int32
		want                               bool
	}{
		{"min but not all pods available", 5, 5, 5, 4, false},
		{"complete", 5, 5, 5, 5, true},
		{"all available but not updated", 5, 5, 4, 5, false},
		{"old pods still running", 1, 2, 1, 1, false},
		{"the one replica never comes up", 1, 1, 1, 0, false},
	}
	for _, tt := range tests {
		d := testDeployment(tt.desired, intstr.FromInt32(1), intstr.FromInt32(1))
		s := appsv1.DeploymentStatus{Replicas: tt.current, UpdatedReplicas: tt.updated, AvailableReplicas: tt.availab, ObservedGeneration: 1}
		if got := deploymentComplete(d, &s); got != tt.want {
			t.Errorf("%s: complete = %v", tt.name, got)
		}
	}
	d := testDeployment(1, intstr.FromInt32(1), intstr.FromInt32(1))
	d.Generation = 2
	if deploymentComplete(d, &appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 1}) {
		t.Error("complete before the latest generation is observed")
	}
}

func TestDeploymentProgressing(t *testing.T) {
	status := func(current, updated, ready, available int32) appsv1.DeploymentStatus {
		return appsv1.DeploymentStatus{Replicas: current, UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: available}
	}
	tests := []struct {
		name     string
		old, new appsv1.DeploymentStatus
		want     bool
	}{
		{"updated pods", status(10, 4, 4, 4), status(10, 6, 4, 4), true},
		{"nothing changed", status(10, 4, 4, 4), status(10, 4, 4, 4), false},
		{"old pods removed", status(10, 4, 6, 6), status(8, 4, 6, 6), true},
		{"fewer new pods", status(10, 7, 3, 3), status(10, 6, 3, 3), false},
		{"fewer overall, more new", status(10, 4, 7, 7), status(8, 8, 5, 5), true},
		{"more ready", status(10, 10, 9, 8), status(10, 10, 10, 8), true},
		{"more available", status(10, 10, 10, 9), status(10, 10, 10, 10), true},
	}
	for _, tt := range tests {
		d := &appsv1.Deployment{Status: tt.old}
		if got := deploymentProgressing(d, &tt.new); got != tt.want {
			t.Errorf("%s: progressing = %v", tt.name, got)
		}
	}
}

func TestDeploymentTimedOut(t *testing.T) {
	at := func(min, sec int) time.Time { return time.Date(2016, 1, 1, 0, min, sec, 0, time.UTC) }
	with := func(reason string, deadline *int32, from time.Time) *appsv1.Deployment {
		return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{ProgressDeadlineSeconds: deadline},
			Status: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing,
				Status: corev1.ConditionTrue, Reason: reason, LastUpdateTime: metav1.NewTime(from)}}}}
	}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"no deadline", with("", nil, at(1, 9)), false},
		{"an infinite deadline", with("", ptr.To(int32(math.MaxInt32)), at(1, 9)), false},
		{"11s without progress against 10s", with(reasonReplicaSetUpdated, ptr.To(int32(10)), at(1, 9)), true},
		{"9s without progress against 10s", with(reasonReplicaSetUpdated, ptr.To(int32(10)), at(1, 11)), false},
		{"the last rollout completed", with(reasonNewRSAvailable, ptr.To(int32(10)), at(0, 0)), false},
		{"already timed out", with(reasonTimedOut, ptr.To(int32(10)), at(1, 19)), true},
	}
	for _, tt := range tests {
		if got := deploymentTimedOut(tt.d, &tt.d.Status, at(1, 20)); got != tt.want {
			t.Errorf("%s: timed out = %v", tt.name, got)
		}
	}
}

// TestRolloutStatus walks the Progressing condition through a rollout.
func TestRolloutStatus(t *testing.T) {
	now := t0.Add(time.Hour)
	progressing := func(reason string, status corev1.ConditionStatus, updated time.Time) appsv1.DeploymentCondition {
		return appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: status, Reason: reason,
			LastUpdateTime: metav1.NewTime(updated), LastTransitionTime: metav1.NewTime(t0)}
	}
	tests := []struct {
		name          string
		deadline      *int32
		current       *appsv1.DeploymentCondition
		oldStatus     appsv1.DeploymentStatus
		newRS, oldRS  *appsv1.ReplicaSet
		wantReason    string // "" for no Progressing condition
		wantStatus    corev1.ConditionStatus
		wantUpdatedAt time.Time
		wantMessage   string
	}{
		{
			name: "complete", deadline: ptr.To(int32(600)),
			current: ptr.To(progressing(reasonReplicaSetUpdated, corev1.ConditionTrue, t0)),
			newRS:   testRS("new", 3, 3, 3, 1), oldRS: testRS("old", 0, 0, 0, 0),
			wantReason: reasonNewRSAvailable, wantStatus: corev1.ConditionTrue, wantUpdatedAt: now,
			wantMessage: `ReplicaSet "new" has successfully progressed.`,
		},
		{
			name: "progress renews the update time, keeps the transition time", deadline: ptr.To(int32(600)),
			current:   ptr.To(progressing(reasonReplicaSetUpdated, corev1.ConditionTrue, t0)),
			oldStatus: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1},
			newRS:     testRS("new", 2, 2, 0, 1), oldRS: testRS("old", 2, 2, 2, 0),
			wantReason: reasonReplicaSetUpdated, wantStatus: corev1.ConditionTrue, wantUpdatedAt: now,
			wantMessage: `ReplicaSet "new" is progressing.`,
		},
		{
			name: "no progress past the deadline times out", deadline: ptr.To(int32(600)),
			current:   ptr.To(progressing(reasonReplicaSetUpdated, corev1.ConditionTrue, now.Add(-11*time.Minute))),
			oldStatus: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
			newRS:     testRS("new", 2, 2, 0, 1), oldRS: testRS("old", 2, 2, 2, 0),
			wantReason: reasonTimedOut, wantStatus: corev1.ConditionFalse, wantUpdatedAt: now,
			wantMessage: `ReplicaSet "new" has timed out progressing.`,
		},
		{
			name: "no progress within the deadline changes nothing", deadline: ptr.To(int32(600)),
			current:   ptr.To(progressing(reasonReplicaSetUpdated, corev1.ConditionTrue, now.Add(-9*time.Minute))),
			oldStatus: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
			newRS:     testRS("new", 2, 2, 0, 1), oldRS: testRS("old", 2, 2, 2, 0),
			wantReason: reasonReplicaSetUpdated, wantStatus: corev1.ConditionTrue, wantUpdatedAt: now.Add(-9 * time.Minute),
		},
		{
			name: "a completed rollout is not estimated again", deadline: ptr.To(int32(1)),
			current:    ptr.To(progressing(reasonNewRSAvailable, corev1.ConditionTrue, t0)),
			newRS:      testRS("new", 3, 3, 3, 1),
			wantReason: reasonNewRSAvailable, wantStatus: corev1.ConditionTrue, wantUpdatedAt: t0,
		},
		{
			name:    "without a deadline there is no Progressing condition",
			current: ptr.To(progressing(reasonReplicaSetUpdated, corev1.ConditionTrue, t0)),
			newRS:   testRS("new", 3, 3, 3, 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(3, intstr.FromInt32(1), intstr.FromInt32(1))
			d.Spec.ProgressDeadlineSeconds = tt.deadline
			d.Status = tt.oldStatus
			d.Status.ObservedGeneration = d.Generation
			if tt.current != nil {
				d.Status.Conditions = []appsv1.DeploymentCondition{*tt.current}
			}
			s := rolloutStatus(d, []*appsv1.ReplicaSet{tt.oldRS, tt.newRS}, tt.newRS, now)
			c := getCondition(s, appsv1.DeploymentProgressing)
			if tt.wantReason == "" {
				if c != nil {
					t.Fatalf("Progressing %+v, want none", c)
				}
				return
			}
			if c == nil || c.Reason != tt.wantReason || c.Status != tt.wantStatus || !c.LastUpdateTime.Time.Equal(tt.wantUpdatedAt) {
				t.Fatalf("Progressing %+v, want %s %s updated at %v", c, tt.wantReason, tt.wantStatus, tt.wantUpdatedAt)
			}
			if tt.wantMessage != "" && c.Message != tt.wantMessage {
				t.Errorf("message %q, want %q", c.Message, tt.wantMessage)
			}
			if c.Status == corev1.ConditionTrue && tt.current.Status == corev1.ConditionTrue && !c.LastTransitionTime.Time.Equal(t0) {
				t.Errorf("transition time moved to %v", c.LastTransitionTime)
			}
		})
	}
}

func TestRolloutStatusCopiesReplicaFailures(t *testing.T) {
	failure := appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: "FailedCreate", Message: "quota exceeded", LastTransitionTime: metav1.NewTime(t0)}
	d := testDeployment(3, intstr.FromInt32(1), intstr.FromInt32(1))
	old, cur := testRS("old", 1, 1, 1, 0), testRS("new", 2, 1, 1, 1)
	old.Status.Conditions = []appsv1.ReplicaSetCondition{failure}
	s := rolloutStatus(d, []*appsv1.ReplicaSet{old, cur}, cur, t0)
	c := getCondition(s, appsv1.DeploymentReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || c.Message != "quota exceeded" || !c.LastUpdateTime.Time.Equal(t0) {
		t.Fatalf("ReplicaFailure %+v", c)
	}
	// The new ReplicaSet's failure wins over an old one's.
	cur.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: "FailedDelete", Message: "forbidden"}}
	if c := getCondition(rolloutStatus(d, []*appsv1.ReplicaSet{old, cur}, cur, t0), appsv1.DeploymentReplicaFailure); c == nil || c.Reason != "FailedDelete" {
		t.Errorf("ReplicaFailure %+v, want the new ReplicaSet's", c)
	}
	// Gone from the ReplicaSets, gone from the Deployment.
	d.Status = s
	old.Status.Conditions, cur.Status.Conditions = nil, nil
	if c := getCondition(rolloutStatus(d, []*appsv1.ReplicaSet{old, cur}, cur, t0), appsv1.DeploymentReplicaFailure); c != nil {
		t.Errorf("ReplicaFailure kept: %+v", c)
	}
}

func TestSetPausedCondition(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name       string
		paused     bool
		deadline   *int32
		current    string
		changed    bool
		wantReason string
	}{
		{"pausing", true, ptr.To(int32(600)), reasonReplicaSetUpdated, true, reasonPaused},
		{"still paused", true, ptr.To(int32(600)), reasonPaused, false, reasonPaused},
		{"resuming", false, ptr.To(int32(600)), reasonPaused, true, reasonResumed},
		{"running", false, ptr.To(int32(600)), reasonReplicaSetUpdated, false, reasonReplicaSetUpdated},
		{"a timed out rollout stays timed out", true, ptr.To(int32(600)), reasonTimedOut, false, reasonTimedOut},
		{"no deadline, no condition", true, nil, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(1, intstr.FromInt32(1), intstr.FromInt32(1))
			d.Spec.Paused, d.Spec.ProgressDeadlineSeconds = tt.paused, tt.deadline
			if tt.current != "" {
				d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
					Reason: tt.current, LastUpdateTime: metav1.NewTime(t0)}}
			}
			if changed := setPausedCondition(d, now); changed != tt.changed {
				t.Errorf("changed = %v", changed)
			}
			c := getCondition(d.Status, appsv1.DeploymentProgressing)
			if (c == nil) != (tt.wantReason == "") || (c != nil && c.Reason != tt.wantReason) {
				t.Fatalf("Progressing %+v, want %q", c, tt.wantReason)
			}
			if tt.changed && (c.Status != corev1.ConditionUnknown || !c.LastUpdateTime.Time.Equal(now)) {
				t.Errorf("Progressing %+v, want Unknown updated now", c)
			}
		})
	}
}

func TestProgressCheckAfter(t *testing.T) {
	now := t0.Add(100 * time.Second)
	with := func(reason string, paused bool, complete bool) *appsv1.Deployment {
		d := testDeployment(2, intstr.FromInt32(1), intstr.FromInt32(1))
		d.Spec.ProgressDeadlineSeconds = ptr.To(int32(300))
		d.Spec.Paused = paused
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: reason,
			LastUpdateTime: metav1.NewTime(t0)}}
		if complete {
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
				Conditions: d.Status.Conditions}
		}
		return d
	}
	if after, ok := progressCheckAfter(with(reasonReplicaSetUpdated, false, false), now); !ok || after != 201*time.Second {
		t.Errorf("rollout in progress: check in %v (%v), want 201s", after, ok)
	}
	if after, ok := progressCheckAfter(with(reasonReplicaSetUpdated, false, false), t0.Add(time.Hour)); !ok || after != time.Second {
		t.Errorf("past the deadline: check in %v (%v), want 1s", after, ok)
	}
	for name, d := range map[string]*appsv1.Deployment{
		"complete": with(reasonNewRSAvailable, false, true), "timed out": with(reasonTimedOut, false, false),
		"paused": with(reasonPaused, true, false), "no condition": testDeployment(2, intstr.FromInt32(1), intstr.FromInt32(1)),
	} {
		if _, ok := progressCheckAfter(d, now); ok {
			t.Errorf("%s: a progress check is due", name)
		}
	}
}
