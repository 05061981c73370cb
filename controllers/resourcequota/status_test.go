package resourcequota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/skiffhq/skiff/internal/quota"
)

func quotaWith(hard, statusHard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: statusHard, Used: used},
	}
}

func TestDesiredStatus(t *testing.T) {
	tests := []struct {
		name        string
		quota       *corev1.ResourceQuota
		usage       corev1.ResourceList
		wantHard    corev1.ResourceList
		wantUsed    corev1.ResourceList
		wantChanged bool
	}{
		{
			name:        "a new quota gets its hard copied and its usage",
			quota:       quotaWith(list("pods", "5", "services", "2"), nil, nil),
			usage:       list("pods", "3", "services", "0"),
			wantHard:    list("pods", "5", "services", "2"),
			wantUsed:    list("pods", "3", "services", "0"),
			wantChanged: true,
		},
		{
			name:     "an unchanged quota needs no write",
			quota:    quotaWith(list("pods", "5"), list("pods", "5"), list("pods", "3")),
			usage:    list("pods", "3"),
			wantHard: list("pods", "5"),
			wantUsed: list("pods", "3"),
		},
		{
			name:     "quantities equal in value are unchanged",
			quota:    quotaWith(list("requests.cpu", "1"), list("requests.cpu", "1000m"), list("requests.cpu", "500m")),
			usage:    list("requests.cpu", "0.5"),
			wantHard: list("requests.cpu", "1"),
			wantUsed: list("requests.cpu", "500m"),
		},
		{
			name:        "new usage replaces the charged one",
			quota:       quotaWith(list("pods", "5"), list("pods", "5"), list("pods", "4")),
			usage:       list("pods", "2"),
			wantHard:    list("pods", "5"),
			wantUsed:    list("pods", "2"),
			wantChanged: true,
		},
		{
			name:        "a raised spec is copied to status",
			quota:       quotaWith(list("pods", "10"), list("pods", "5"), list("pods", "2")),
			usage:       list("pods", "2"),
			wantHard:    list("pods", "10"),
			wantUsed:    list("pods", "2"),
			wantChanged: true,
		},
		{
			name:     "usage that could not be measured keeps its last value",
			quota:    quotaWith(list("pods", "5", "count/secrets", "3"), list("pods", "5", "count/secrets", "3"), list("pods", "1", "count/secrets", "2")),
			usage:    list("pods", "1"),
			wantHard: list("pods", "5", "count/secrets", "3"),
			wantUsed: list("pods", "1", "count/secrets", "2"),
		},
		{
			name:        "resources dropped from the spec are dropped from status",
			quota:       quotaWith(list("pods", "5"), list("pods", "5", "services", "1"), list("pods", "1", "services", "1")),
			usage:       list("pods", "1"),
			wantHard:    list("pods", "5"),
			wantUsed:    list("pods", "1"),
			wantChanged: true,
		},
		{
			name:  "a quota without hard limits stays empty",
			quota: quotaWith(nil, nil, nil),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, changed := desiredStatus(tc.quota, tc.usage)
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if !quotav1.Equals(status.Hard, tc.wantHard) {
				t.Errorf("hard = %v, want %v", status.Hard, tc.wantHard)
			}
			if !quotav1.Equals(status.Used, tc.wantUsed) {
				t.Errorf("used = %v, want %v", status.Used, tc.wantUsed)
			}
		})
	}
}

func TestNeedsSync(t *testing.T) {
	synced := quotaWith(list("pods", "5"), list("pods", "5"), list("pods", "1"))
	tests := []struct {
		name   string
		change func(q *corev1.ResourceQuota)
		want   bool
	}{
		{"admission charging usage is no reason", func(q *corev1.ResourceQuota) { q.Status.Used = list("pods", "2") }, false},
		{"a changed hard limit is", func(q *corev1.ResourceQuota) { q.Spec.Hard = list("pods", "6") }, true},
		{"a changed scope is", func(q *corev1.ResourceQuota) {
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
		}, true},
		{"a changed scope selector is", func(q *corev1.ResourceQuota) {
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpExists}}}
		}, true},
		{"a status that lost its usage is", func(q *corev1.ResourceQuota) { q.Status.Used = nil }, true},
		{"a status that lost its hard is", func(q *corev1.ResourceQuota) { q.Status.Hard = nil }, true},
		{"a label change is not", func(q *corev1.ResourceQuota) { q.Labels = map[string]string{"team": "a"} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := synced.DeepCopy()
			tc.change(cur)
			if got := needsSync(synced, cur); got != tc.want {
				t.Errorf("needsSync = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReleasesQuota(t *testing.T) {
	evaluators := generic.NewRegistry(quota.NewEvaluators(nil, clock.RealClock{}))
	pods := evaluators.Get(schema.GroupResource{Resource: "pods"})
	services := evaluators.Get(schema.GroupResource{Resource: "services"})
	claims := evaluators.Get(schema.GroupResource{Resource: "persistentvolumeclaims"})
	running := newPod("ns", "p", list("cpu", "1"))
	running.Status.Phase = corev1.PodRunning
	ready := running.DeepCopy()
	ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	succeeded := running.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded

	clusterIP := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}
	nodePort := clusterIP.DeepCopy()
	nodePort.Spec.Type = corev1.ServiceTypeNodePort
	relabelled := clusterIP.DeepCopy()
	relabelled.Labels = map[string]string{"a": "b"}

	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "1Gi")}}}
	bound := claim.DeepCopy()
	bound.Status.Phase = corev1.ClaimBound

	tests := []struct {
		name string
		pred func() bool
		want bool
	}{
		{"a pod becoming ready releases nothing", func() bool {
			return releasesQuota(pods).Update(event.UpdateEvent{ObjectOld: running, ObjectNew: ready})
		}, false},
		{"a pod succeeding releases its compute", func() bool {
			return releasesQuota(pods).Update(event.UpdateEvent{ObjectOld: running, ObjectNew: succeeded})
		}, true},
		{"a deleted pod releases its quota", func() bool {
			return releasesQuota(pods).Delete(event.DeleteEvent{Object: running})
		}, true},
		{"a created pod was charged by admission", func() bool {
			return releasesQuota(pods).Create(event.CreateEvent{Object: running})
		}, false},
		{"a service changing type changes its node ports", func() bool {
			return releasesQuota(services).Update(event.UpdateEvent{ObjectOld: nodePort, ObjectNew: clusterIP})
		}, true},
		{"a service relabelled changes nothing", func() bool {
			return releasesQuota(services).Update(event.UpdateEvent{ObjectOld: clusterIP, ObjectNew: relabelled})
		}, false},
		{"a claim being bound changes nothing", func() bool {
			return releasesQuota(claims).Update(event.UpdateEvent{ObjectOld: claim, ObjectNew: bound})
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.pred(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
