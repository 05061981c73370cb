package statefulset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// podState is a pod's life, as its node would report it.
type podState int

const (
	pending   podState = iota
	running            // running, not ready
	ready              // running and ready for a minute
	justReady          // running and ready for a second
	failed
	succeeded
	terminating // ready, being deleted
)

// pod is set's pod with the given ordinal at revision rev, in state st.
func pod(set *appsv1.StatefulSet, ordinal int, rev string, st podState) *corev1.Pod {
	p := newPod(set, ordinal)
	p.UID = types.UID(fmt.Sprintf("pod-%d", ordinal))
	p.Labels[appsv1.StatefulSetRevisionLabel] = rev
	p.Status.Phase = corev1.PodPending
	readyFor := func(d time.Duration) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
	switch st {
	case running:
		p.Status.Phase = corev1.PodRunning
	case ready:
		readyFor(time.Minute)
	case justReady:
		readyFor(time.Second)
	case failed:
		p.Status.Phase = corev1.PodFailed
	case succeeded:
		p.Status.Phase = corev1.PodSucceeded
	case terminating:
		readyFor(time.Minute)
		p.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	}
	return p
}

// claimsOf returns the claims of the given ordinals of set, without owners.
func claimsOf(set *appsv1.StatefulSet, ordinals ...int) map[string]*corev1.PersistentVolumeClaim {
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for _, o := range ordinals {
		for _, c := range claimsFor(set, newPod(set, o)) {
			c.UID = types.UID("claim-" + c.Name)
			claims[c.Name] = c
		}
	}
	return claims
}

func describe(steps []step) string {
	var out []string
	for _, s := range steps {
		d := string(s.action) + " " + s.pod.Name
		if s.why != "" {
			d += " (" + string(s.why) + ")"
		}
		if s.action == createPod {
			d += "@" + revisionOf(s.pod)
		}
		out = append(out, d)
	}
	return strings.Join(out, ", ")
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		set    func() *appsv1.StatefulSet
		pods   func(set *appsv1.StatefulSet) []*corev1.Pod
		claims func(set *appsv1.StatefulSet) map[string]*corev1.PersistentVolumeClaim
		update string // the update revision, r1 unless set
		want   string
	}{
		{
			name: "OrderedReady creates the first pod only",
			set:  func() *appsv1.StatefulSet { return newSet(3) },
			want: "create web-0@r1",
		},
		{
			name: "OrderedReady waits for a pod that is running but not ready",
			set:  func() *appsv1.StatefulSet { return newSet(3) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, "r1", running)} },
			want: "",
		},
		{
			name: "OrderedReady creates the next pod once its predecessor is ready",
			set:  func() *appsv1.StatefulSet { return newSet(3) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, "r1", ready)} },
			want: "create web-1@r1",
		},
		{
			name: "OrderedReady waits minReadySeconds before the next pod",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.MinReadySeconds = 10
				return s
			},
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, "r1", justReady)} },
			want: "",
		},
		{
			name: "a missing pod in the middle is made again first",
			set:  func() *appsv1.StatefulSet { return newSet(3) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 2, "r1", ready)}
			},
			want: "create web-1@r1",
		},
		{
			name: "Parallel creates every missing pod at once",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
				return s
			},
			want: "create web-0@r1, create web-1@r1, create web-2@r1",
		},
		{
			name: "ordinals start where spec.ordinals.start says",
			set: func() *appsv1.StatefulSet {
				s := newSet(2)
				s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
				return s
			},
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 5, "r1", ready)} },
			want: "create web-6@r1",
		},
		{
			name: "a failed pod is deleted to be made again",
			set:  func() *appsv1.StatefulSet { return newSet(2) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", failed), pod(s, 1, "r1", ready)}
			},
			want: "delete web-0 (failed)",
		},
		{
			name: "a pod that exited is deleted to be made again",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, "r1", succeeded)} },
			want: "delete web-0 (succeeded)",
		},
		{
			name: "OrderedReady scales down from the highest ordinal, one at a time",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r1", ready)}
			},
			want: "delete web-2 (scale down)",
		},
		{
			name: "OrderedReady waits for a terminating pod before the next scale down",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r1", terminating)}
			},
			want: "",
		},
		{
			name: "an unhealthy pod being scaled away goes if it is the first unavailable one",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r1", running)}
			},
			want: "delete web-2 (scale down)",
		},
		{
			name: "scale down waits while a lower condemned pod is unhealthy",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", running), pod(s, 2, "r1", running)}
			},
			want: "",
		},
		{
			name: "OrderedReady does not scale down while a kept pod is unhealthy",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", running), pod(s, 1, "r1", ready)}
			},
			want: "",
		},
		{
			name: "Parallel scales down every condemned pod at once",
			set: func() *appsv1.StatefulSet {
				s := newSet(1)
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
				return s
			},
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", running), pod(s, 2, "r1", ready)}
			},
			want: "delete web-2 (scale down), delete web-1 (scale down)",
		},
		{
			name:   "a rolling update deletes the highest pod not at the update revision",
			set:    func() *appsv1.StatefulSet { return newSet(3) },
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r1", ready)}
			},
			want: "delete web-2 (update)",
		},
		{
			name:   "a rolling update goes on below updated ready pods",
			set:    func() *appsv1.StatefulSet { return newSet(3) },
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r2", ready)}
			},
			want: "delete web-1 (update)",
		},
		{
			name:   "a rolling update waits for the updated pod to be ready",
			set:    func() *appsv1.StatefulSet { return newSet(3) },
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r2", running)}
			},
			want: "",
		},
		{
			name: "a rolling update stops at the partition",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
				return s
			},
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r2", ready)}
			},
			want: "",
		},
		{
			name: "a pod below the partition is made again at the current revision",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
				return s
			},
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 2, "r2", ready)}
			},
			want: "create web-1@r1",
		},
		{
			name: "maxUnavailable lets a Parallel update replace several pods at once",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
				s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
				return s
			},
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r1", ready)}
			},
			want: "delete web-2 (update), delete web-1 (update)",
		},
		{
			name: "maxUnavailable counts the pods already unavailable",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
				s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
				return s
			},
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready), pod(s, 2, "r2", running)}
			},
			want: "delete web-1 (update)",
		},
		{
			name: "OnDelete never deletes pods for an update",
			set: func() *appsv1.StatefulSet {
				s := newSet(2)
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
				return s
			},
			update: "r2",
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready)}
			},
			want: "",
		},
		{
			name: "a set being deleted is left alone",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.DeletionTimestamp = ptr.To(metav1.NewTime(now))
				return s
			},
			want: "",
		},
		{
			name: "a pending pod gets its missing claims",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, "r1", pending)} },
			want: "create claims web-0",
		},
		{
			name: "a ready pod with a label lost gets it back",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				p := pod(s, 0, "r1", ready)
				delete(p.Labels, appsv1.StatefulSetPodNameLabel)
				return []*corev1.Pod{p}
			},
			claims: func(s *appsv1.StatefulSet) map[string]*corev1.PersistentVolumeClaim { return claimsOf(s, 0) },
			want:   "update web-0",
		},
		{
			name: "whenScaled Delete hands the claims of a pod scaled away to the pod, then deletes it",
			set: func() *appsv1.StatefulSet {
				s := newSet(1)
				s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				}
				return s
			},
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", ready)}
			},
			claims: func(s *appsv1.StatefulSet) map[string]*corev1.PersistentVolumeClaim { return claimsOf(s, 0, 1) },
			want:   "fix claims web-1, delete web-1 (scale down)",
		},
		{
			name: "a pod waits while a claim of its earlier self is being garbage collected",
			set: func() *appsv1.StatefulSet {
				s := newSet(1)
				s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				}
				return s
			},
			claims: func(s *appsv1.StatefulSet) map[string]*corev1.PersistentVolumeClaim {
				claims := claimsOf(s, 0)
				claims["data-web-0"].OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(pod(s, 0, "r1", ready), podKind)}
				return claims
			},
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set()
			update := tc.update
			if update == "" {
				update = "r1"
			}
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(set)
			}
			claims := map[string]*corev1.PersistentVolumeClaim{}
			if tc.claims != nil {
				claims = tc.claims(set)
			}
			w := world{set: set, currentSet: set, updateSet: set, currentRevision: "r1", updateRevision: update,
				pods: pods, claims: claims, now: now}
			if got := describe(plan(w)); got != tc.want {
				t.Errorf("plan = %q\n          want %q", got, tc.want)
			}
		})
	}
}

func TestPlanCreatesPodsFromTheRevisionTheirSideOfThePartitionHas(t *testing.T) {
	set, updateSet := newSet(2), newSet(2)
	set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](1)
	updateSet.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	steps := plan(world{set: set, currentSet: set, updateSet: updateSet, currentRevision: "r1", updateRevision: "r2", now: now})
	if len(steps) != 2 {
		t.Fatalf("steps %s, want two creations", describe(steps))
	}
	for i, want := range []string{"nginx:1", "nginx:2"} {
		if got := steps[i].pod.Spec.Containers[0].Image; got != want {
			t.Errorf("pod %s image %s, want %s", steps[i].pod.Name, got, want)
		}
	}
}

func TestComputeStatusCountsPodsAndCompletesRollingUpdates(t *testing.T) {
	tests := []struct {
		name   string
		set    func() *appsv1.StatefulSet
		pods   func(set *appsv1.StatefulSet) []*corev1.Pod
		update string
		want   appsv1.StatefulSetStatus
	}{
		{
			name: "pods at the update revision, all ready: the update revision is current",
			set:  func() *appsv1.StatefulSet { return newSet(2) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r2", ready), pod(s, 1, "r2", ready)}
			},
			update: "r2",
			want: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2,
				CurrentRevision: "r2", UpdateRevision: "r2"},
		},
		{
			name: "mid-update: counts per revision, readiness and availability",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.MinReadySeconds = 10
				return s
			},
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", justReady), pod(s, 2, "r2", running)}
			},
			update: "r2",
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 1, CurrentReplicas: 2, UpdatedReplicas: 1,
				CurrentRevision: "r1", UpdateRevision: "r2"},
		},
		{
			name: "terminating pods count as replicas but at no revision",
			set:  func() *appsv1.StatefulSet { return newSet(1) },
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, "r1", ready), pod(s, 1, "r1", terminating)}
			},
			want: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 1, UpdatedReplicas: 1,
				CurrentRevision: "r1", UpdateRevision: "r1"},
		},
		{
			name: "OnDelete never completes an update",
			set: func() *appsv1.StatefulSet {
				s := newSet(1)
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
				return s
			},
			pods:   func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, "r2", ready)} },
			update: "r2",
			want: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, CurrentReplicas: 0, UpdatedReplicas: 1,
				CurrentRevision: "r1", UpdateRevision: "r2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set()
			update := tc.update
			if update == "" {
				update = "r1"
			}
			got := computeStatus(world{set: set, currentRevision: "r1", updateRevision: update, pods: tc.pods(set), now: now}, 3)
			tc.want.ObservedGeneration = 1
			tc.want.CollisionCount = ptr.To[int32](3)
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("status\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNextAvailabilityIsTheFirstPodToBecomeAvailable(t *testing.T) {
	set := newSet(3)
	set.Spec.MinReadySeconds = 10
	pods := []*corev1.Pod{pod(set, 0, "r1", ready), pod(set, 1, "r1", justReady), pod(set, 2, "r1", running)}
	if d := nextAvailability(set, pods, now); d < 8*time.Second || d > 10*time.Second {
		t.Errorf("next availability in %v, want about 9s", d)
	}
	if d := nextAvailability(set, pods[:1], now); d != 0 {
		t.Errorf("next availability of available pods = %v, want 0", d)
	}
}
