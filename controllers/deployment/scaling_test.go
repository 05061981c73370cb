package deployment

import (
	"fmt"
	"math"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestResolveFenceposts(t *testing.T) {
	str := func(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }
	num := func(n int32) *intstr.IntOrString { return ptr.To(intstr.FromInt32(n)) }
	tests := []struct {
		surge, unavailable *intstr.IntOrString
		desired            int32
		wantSurge, wantU   int32
		wantErr            bool
	}{
		{surge: str("0%"), unavailable: str("0%"), desired: 0, wantSurge: 0, wantU: 1},
		{surge: str("39%"), unavailable: str("39%"), desired: 10, wantSurge: 4, wantU: 3},
		{surge: str("25%"), unavailable: str("25%"), desired: 10, wantSurge: 3, wantU: 2},
		{surge: str("25%"), unavailable: str("25%"), desired: 1, wantSurge: 1, wantU: 0},
		{surge: str("0%"), unavailable: str("25%"), desired: 3, wantSurge: 0, wantU: 1},
		{surge: num(3), unavailable: num(2), desired: 10, wantSurge: 3, wantU: 2},
		{surge: num(0), unavailable: num(0), desired: 10, wantSurge: 0, wantU: 1},
		{surge: nil, unavailable: str("39%"), desired: 10, wantSurge: 0, wantU: 3},
		{surge: str("39%"), unavailable: nil, desired: 10, wantSurge: 4, wantU: 0},
		{surge: nil, unavailable: nil, desired: 10, wantSurge: 0, wantU: 1},
		{surge: str("oops"), unavailable: str("39%"), desired: 10, wantErr: true},
		{surge: str("55%"), unavailable: str("urg"), desired: 10, wantErr: true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s, u, err := resolveFenceposts(tt.surge, tt.unavailable, tt.desired)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if !tt.wantErr && (s != tt.wantSurge || u != tt.wantU) {
				t.Errorf("surge %d unavailable %d, want %d %d", s, u, tt.wantSurge, tt.wantU)
			}
		})
	}
}

func TestMaxSurgeAndUnavailable(t *testing.T) {
	recreate := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(5)),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	tests := []struct {
		name             string
		d                *appsv1.Deployment
		surge, unavailab int32
	}{
		{"less than replicas", testDeployment(10, intstr.FromInt32(1), intstr.FromInt32(5)), 1, 5},
		{"equal to replicas", testDeployment(10, intstr.FromInt32(1), intstr.FromInt32(10)), 1, 10},
		{"more than replicas is capped", testDeployment(5, intstr.FromInt32(1), intstr.FromInt32(10)), 1, 5},
		{"no replicas", testDeployment(0, intstr.FromInt32(1), intstr.FromInt32(10)), 1, 0},
		{"percentages", testDeployment(10, intstr.FromString("50%"), intstr.FromString("100%")), 5, 10},
		{"Recreate has neither", recreate, 0, 0},
		{"a rolling update without parameters", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(4)),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}}}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, u := maxSurge(tt.d), maxUnavailable(tt.d); s != tt.surge || u != tt.unavailab {
				t.Errorf("surge %d unavailable %d, want %d %d", s, u, tt.surge, tt.unavailab)
			}
		})
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	tests := []struct {
		name      string
		strategy  appsv1.DeploymentStrategyType
		replicas  int32
		surge     int32
		newRS     *appsv1.ReplicaSet
		others    []*appsv1.ReplicaSet
		want      int32
		wantError bool
	}{
		{name: "cannot scale up past the surge", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 1, surge: 1,
			newRS: testRS("new", 5, 5, 0, 1), others: []*appsv1.ReplicaSet{testRS("old", 5, 5, 5, 0)}, want: 5},
		{name: "scales up to the replicas", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 6, surge: 10,
			newRS: testRS("new", 2, 2, 0, 1), others: []*appsv1.ReplicaSet{testRS("old", 5, 5, 5, 0)}, want: 6},
		{name: "scales up by what the surge leaves", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 10, surge: 3,
			newRS: testRS("new", 0, 0, 0, 1), others: []*appsv1.ReplicaSet{testRS("old", 10, 10, 10, 0)}, want: 3},
		{name: "old pods not yet gone count against the surge", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 10, surge: 3,
			newRS: testRS("new", 3, 3, 3, 1), others: []*appsv1.ReplicaSet{testRS("old", 8, 10, 10, 0)}, want: 3},
		{name: "once they are gone the new ReplicaSet grows", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 10, surge: 3,
			newRS: testRS("new", 3, 3, 3, 1), others: []*appsv1.ReplicaSet{testRS("old", 8, 8, 8, 0)}, want: 5},
		{name: "Recreate goes straight to the replicas", strategy: appsv1.RecreateDeploymentStrategyType, replicas: 3, surge: 1,
			newRS: testRS("new", 1, 1, 0, 1), others: []*appsv1.ReplicaSet{testRS("old", 5, 5, 5, 0)}, want: 3},
		{name: "an unknown strategy is an error", strategy: "Canary", replicas: 3, newRS: testRS("new", 1, 1, 0, 1), wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(tt.replicas, intstr.FromInt32(tt.surge), intstr.FromInt32(1))
			d.Spec.Strategy.Type = tt.strategy
			got, err := newRSNewReplicas(d, append(tt.others, tt.newRS), tt.newRS)
			if (err != nil) != tt.wantError || got != tt.want {
				t.Errorf("got %d (%v), want %d", got, err, tt.want)
			}
		})
	}
}

// TestRollingScaleDown follows upstream's reconcileOldReplicaSets cases: unhealthy old pods go first,
// then as many as availability allows, and never because of the new ReplicaSet's unavailable pods.
func TestRollingScaleDown(t *testing.T) {
	tests := []struct {
		name                       string
		replicas                   int32
		maxUnavailable             intstr.IntOrString
		oldReplicas, newReplicas   int32
		oldAvailable, newAvailable int32
		wantOld                    int32
	}{
		{"maxUnavailable 0 (resolved to 1) lets one go", 10, intstr.FromInt32(0), 10, 0, 10, 0, 9},
		{"two may be unavailable", 10, intstr.FromInt32(2), 10, 0, 10, 0, 8},
		{"two unhealthy old pods are cleaned up", 10, intstr.FromInt32(2), 10, 0, 8, 0, 8},
		{"one unhealthy and one healthy go", 10, intstr.FromInt32(2), 10, 0, 9, 0, 8},
		{"new unavailable pods do not make old ones go", 10, intstr.FromInt32(2), 8, 2, 8, 0, 8},
		{"new available pods make room", 10, intstr.FromInt32(2), 8, 5, 8, 5, 3},
		// Upstream would count 13 available and scale the old ReplicaSet to 0, leaving 5.
		{"an old status that still counts deleted pods makes no room", 10, intstr.FromInt32(2), 5, 5, 8, 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(tt.replicas, intstr.FromInt32(0), tt.maxUnavailable)
			old := testRS("old", tt.oldReplicas, tt.oldReplicas, tt.oldAvailable, 0)
			if tt.oldAvailable > tt.oldReplicas {
				old.Status.Replicas = tt.oldAvailable
			}
			newRS := testRS("new", tt.newReplicas, tt.newReplicas, tt.newAvailable, 1)
			all := []*appsv1.ReplicaSet{old, newRS}
			budget := maxScaledDown(d, all, newRS)
			got := tt.oldReplicas
			if budget > 0 {
				cleanup, _ := cleanupUnhealthySteps([]*appsv1.ReplicaSet{old}, budget)
				for _, s := range cleanup {
					s.rs.Spec.Replicas = ptr.To(s.replicas)
					got = s.replicas
				}
				down, _ := scaleDownOldSteps(d, all, []*appsv1.ReplicaSet{old}, maxUnavailable(d))
				for _, s := range down {
					got = s.replicas
				}
			}
			if got != tt.wantOld {
				t.Errorf("old replica set scaled to %d, want %d", got, tt.wantOld)
			}
		})
	}
}

func TestCleanupUnhealthySteps(t *testing.T) {
	tests := []struct {
		replicas, available, maxCleanup, want int32
	}{
		{10, 8, 1, 1},
		{10, 8, 3, 2},
		{10, 8, 0, 0},
		{10, 10, 3, 0},
	}
	for _, tt := range tests {
		_, got := cleanupUnhealthySteps([]*appsv1.ReplicaSet{testRS("old", tt.replicas, tt.replicas, tt.available, 0)}, tt.maxCleanup)
		if got != tt.want {
			t.Errorf("%+v: cleaned %d", tt, got)
		}
	}
	// The oldest ReplicaSets go first.
	older, newer := testRS("a", 3, 3, 0, 0), testRS("b", 3, 3, 0, 1)
	steps, total := cleanupUnhealthySteps([]*appsv1.ReplicaSet{older, newer}, 4)
	if total != 4 || len(steps) != 2 || steps[0].rs != older || steps[0].replicas != 0 || steps[1].replicas != 2 {
		t.Errorf("steps %+v", steps)
	}
}

func TestScaleDownOldStepsTakesTheOldestFirst(t *testing.T) {
	d := testDeployment(10, intstr.FromInt32(0), intstr.FromInt32(3))
	older, newer, cur := testRS("a", 4, 4, 4, 0), testRS("b", 6, 6, 6, 1), testRS("c", 3, 3, 3, 2)
	steps, total := scaleDownOldSteps(d, []*appsv1.ReplicaSet{older, newer, cur}, []*appsv1.ReplicaSet{newer, older}, 3)
	// 13 available, 7 must stay: 6 go, 4 from the oldest and 2 from the next.
	if total != 6 || len(steps) != 2 || steps[0].rs != older || steps[0].replicas != 0 || steps[1].rs != newer || steps[1].replicas != 4 {
		t.Errorf("steps %+v, total %d", steps, total)
	}
}

// TestScaleSteps follows upstream's TestScale: the ReplicaSets were last scaled for oldReplicas (and
// oldSurge) unless desired says otherwise, and the Deployment now has replicas.
func TestScaleSteps(t *testing.T) {
	type set struct {
		name   string
		size   int32
		minute int
	}
	tests := []struct {
		name                string
		replicas, surge     int32
		oldReplicas         int32
		oldSurge            int32
		newRS               *set
		oldRSs              []set
		desired             map[string]int32
		want                map[string]int32
		saturatedNewRSReady bool
	}{
		{name: "a single ReplicaSet takes it all", replicas: 12, oldReplicas: 10,
			newRS: &set{"v1", 10, 2}, want: map[string]int32{"v1": 12}},
		{name: "5 -> 10", replicas: 10, oldReplicas: 5, newRS: &set{"v2", 2, 2}, oldRSs: []set{{"v1", 3, 1}},
			want: map[string]int32{"v2": 4, "v1": 6}},
		{name: "5 -> 3", replicas: 3, oldReplicas: 5, newRS: &set{"v2", 2, 2}, oldRSs: []set{{"v1", 3, 1}},
			want: map[string]int32{"v2": 1, "v1": 2}},
		{name: "9 -> 4", replicas: 4, oldReplicas: 9, newRS: &set{"v2", 8, 2}, oldRSs: []set{{"v1", 1, 1}},
			want: map[string]int32{"v2": 4, "v1": 0}},
		{name: "7 -> 10", replicas: 10, oldReplicas: 7, newRS: &set{"v3", 2, 3}, oldRSs: []set{{"v2", 3, 2}, {"v1", 2, 1}},
			want: map[string]int32{"v3": 3, "v2": 4, "v1": 3}},
		{name: "13 -> 8", replicas: 8, oldReplicas: 13, newRS: &set{"v3", 2, 3}, oldRSs: []set{{"v2", 8, 2}, {"v1", 3, 1}},
			want: map[string]int32{"v3": 1, "v2": 5, "v1": 2}},
		{name: "growing, the leftover goes to the newest of the largest", replicas: 4, oldReplicas: 3,
			newRS: &set{"v3", 1, 3}, oldRSs: []set{{"v2", 1, 2}, {"v1", 1, 1}}, want: map[string]int32{"v3": 2, "v2": 1, "v1": 1}},
		{name: "shrinking, the leftover comes from the oldest of the largest", replicas: 2, oldReplicas: 3,
			newRS: &set{"v3", 1, 3}, oldRSs: []set{{"v2", 1, 2}, {"v1", 1, 1}}, want: map[string]int32{"v3": 1, "v2": 1, "v1": 0}},
		{name: "no new ReplicaSet: the newest grows first", replicas: 5, oldReplicas: 4,
			oldRSs: []set{{"v2", 2, 2}, {"v1", 2, 1}}, want: map[string]int32{"v2": 3, "v1": 2}},
		{name: "to zero", replicas: 0, oldReplicas: 6, newRS: &set{"v3", 3, 3}, oldRSs: []set{{"v2", 2, 2}, {"v1", 1, 1}},
			want: map[string]int32{"v3": 0, "v2": 0, "v1": 0}},
		{name: "from zero, the new ReplicaSet takes it all", replicas: 6, oldReplicas: 6, newRS: &set{"v3", 0, 3},
			oldRSs: []set{{"v2", 0, 2}, {"v1", 0, 1}}, want: map[string]int32{"v3": 6}},
		{name: "a ReplicaSet scaled for another size takes its own share", replicas: 5, oldReplicas: 5,
			newRS: &set{"v3", 2, 3}, oldRSs: []set{{"v2", 1, 2}, {"v1", 1, 1}}, desired: map[string]int32{"v2": 3},
			want: map[string]int32{"v3": 2, "v2": 2, "v1": 1}},
		{name: "with surge", replicas: 20, surge: 2, oldReplicas: 10, oldSurge: 2, newRS: &set{"v2", 6, 2},
			oldRSs: []set{{"v1", 6, 1}}, want: map[string]int32{"v2": 11, "v1": 11}},
		{name: "size and surge both change", replicas: 50, surge: 6, oldReplicas: 10, oldSurge: 3, newRS: &set{"v2", 5, 2},
			oldRSs: []set{{"v1", 8, 1}}, want: map[string]int32{"v2": 22, "v1": 34}},
		{name: "size and template both change", replicas: 14, oldReplicas: 10,
			oldRSs: []set{{"v2", 7, 2}, {"v1", 3, 1}}, want: map[string]int32{"v2": 10, "v1": 4}},
		{name: "a saturated new ReplicaSet leaves the old ones nothing", replicas: 2, surge: 1, oldReplicas: 2, oldSurge: 1,
			newRS: &set{"v2", 2, 2}, oldRSs: []set{{"v1", 1, 1}}, saturatedNewRSReady: true, want: map[string]int32{"v1": 0}},
		{name: "a saturated but broken new ReplicaSet leaves the old ones be", replicas: 2, surge: 1, oldReplicas: 2, oldSurge: 1,
			newRS: &set{"v2", 2, 2}, oldRSs: []set{{"v1", 1, 1}}, want: map[string]int32{"v2": 2, "v1": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(tt.replicas, intstr.FromInt32(tt.surge), intstr.FromInt32(0))
			d.Status.Replicas = tt.oldReplicas
			mk := func(s set) *appsv1.ReplicaSet {
				rs := testRS(s.name, s.size, s.size, s.size, s.minute)
				desired := tt.oldReplicas
				if v, ok := tt.desired[s.name]; ok {
					desired = v
				}
				setReplicasAnnotations(rs, desired, desired+tt.oldSurge)
				return rs
			}
			var newRS *appsv1.ReplicaSet
			if tt.newRS != nil {
				newRS = mk(*tt.newRS)
				if tt.saturatedNewRSReady {
					setReplicasAnnotations(newRS, tt.replicas, tt.replicas+tt.surge)
				} else {
					newRS.Status.AvailableReplicas = 0
				}
			}
			var oldRSs []*appsv1.ReplicaSet
			for _, s := range tt.oldRSs {
				oldRSs = append(oldRSs, mk(s))
			}
			got := map[string]int32{}
			var total int32
			for _, step := range scaleSteps(d, newRS, oldRSs) {
				got[step.rs.Name] = step.replicas
				total += step.replicas
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s scaled to %d, want %d (all: %v)", name, got[name], want, got)
				}
			}
			if len(got) > 1 && total > tt.replicas+tt.surge {
				t.Errorf("total %d over %d+%d", total, tt.replicas, tt.surge)
			}
		})
	}
}

func TestFindActiveOrLatest(t *testing.T) {
	active, idle, idler := testRS("a", 3, 3, 3, 0), testRS("b", 0, 0, 0, 1), testRS("c", 0, 0, 0, 2)
	tests := []struct {
		name   string
		newRS  *appsv1.ReplicaSet
		oldRSs []*appsv1.ReplicaSet
		want   *appsv1.ReplicaSet
	}{
		{"nothing", nil, nil, nil},
		{"the one active", idler, []*appsv1.ReplicaSet{active, idle}, active},
		{"none active: the new one", idle, []*appsv1.ReplicaSet{idler}, idle},
		{"none active and no new one: the newest", nil, []*appsv1.ReplicaSet{idler, idle}, idler},
		{"several active: none", testRS("d", 1, 1, 1, 3), []*appsv1.ReplicaSet{active}, nil},
	}
	for _, tt := range tests {
		if got := findActiveOrLatest(tt.newRS, tt.oldRSs); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

func TestIsScalingEvent(t *testing.T) {
	d := testDeployment(5, intstr.FromInt32(1), intstr.FromInt32(1))
	scaledFor := func(n string) *appsv1.ReplicaSet {
		return withAnnotations(testRS("a", 2, 2, 2, 0), DesiredReplicasAnnotation, n)
	}
	if isScalingEvent(d, []*appsv1.ReplicaSet{scaledFor("5"), nil}) {
		t.Error("scaled for the current size, yet a scaling event")
	}
	if !isScalingEvent(d, []*appsv1.ReplicaSet{scaledFor("4")}) {
		t.Error("scaled for another size, yet no scaling event")
	}
	idle := withAnnotations(testRS("b", 0, 0, 0, 0), DesiredReplicasAnnotation, "4")
	if isScalingEvent(d, []*appsv1.ReplicaSet{idle, testRS("c", 1, 1, 1, 0)}) {
		t.Error("inactive or unannotated ReplicaSets made a scaling event")
	}
}

func TestRevisionsToClean(t *testing.T) {
	rev := func(name, revision string, spec, actual int32) *appsv1.ReplicaSet {
		rs := withAnnotations(testRS(name, spec, actual, actual, 0), RevisionAnnotation, revision)
		rs.Generation, rs.Status.ObservedGeneration = 2, 2
		return rs
	}
	unobserved := rev("unobserved", "2", 0, 0)
	unobserved.Status.ObservedGeneration = 1
	deleting := rev("deleting", "1", 0, 0)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	old := []*appsv1.ReplicaSet{rev("r5", "5", 0, 0), rev("r3", "3", 0, 0), unobserved, rev("r4", "4", 1, 1),
		rev("r6", "6", 0, 0), deleting, rev("r10", "10", 0, 0)}
	tests := []struct {
		limit *int32
		want  []string
	}{
		{limit: ptr.To(int32(2)), want: []string{"unobserved-kept", "r3", "r4-kept", "r5"}},
		{limit: ptr.To(int32(6)), want: nil},
		{limit: ptr.To(int32(0)), want: []string{"r3", "r5", "r6", "r10"}},
		{limit: nil, want: nil},
		{limit: ptr.To(int32(math.MaxInt32)), want: nil},
	}
	for _, tt := range tests {
		d := testDeployment(1, intstr.FromInt32(1), intstr.FromInt32(1))
		d.Spec.RevisionHistoryLimit = tt.limit
		var got []string
		for _, rs := range revisionsToClean(d, old) {
			got = append(got, rs.Name)
		}
		var want []string
		for _, w := range tt.want {
			if len(w) < 5 || w[len(w)-5:] != "-kept" {
				want = append(want, w)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("limit %v: cleaned %v, want %v", ptr.Deref(tt.limit, -1), got, want)
		}
	}
}
