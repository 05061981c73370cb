package deployment

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

// testDeployment is a rolling Deployment of image with the given replicas, surge and unavailability.
func testDeployment(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template("web:1"),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			RevisionHistoryLimit:    ptr.To(int32(10)),
			ProgressDeadlineSeconds: ptr.To(int32(600)),
		},
	}
}

// testRS is a ReplicaSet wanting spec pods, having actual of which available are available, made at
// t0 plus age minutes.
func testRS(name string, spec, actual, available int32, minute int) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(minute) * time.Minute)), Annotations: map[string]string{}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(spec), Template: template("web:" + name)},
		Status: appsv1.ReplicaSetStatus{Replicas: actual, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func withAnnotations(rs *appsv1.ReplicaSet, kv ...string) *appsv1.ReplicaSet {
	for i := 0; i+1 < len(kv); i += 2 {
		rs.Annotations[kv[i]] = kv[i+1]
	}
	return rs
}

func TestTemplateHash(t *testing.T) {
	a, b := template("web:1"), template("web:2")
	h := templateHash(&a, nil)
	if h == "" || len(h) > 10 || strings.Trim(h, "bcdfghjklmnpqrstvwxz2456789") != "" {
		t.Fatalf("hash %q is not a short safe-encoded string", h)
	}
	copied := *a.DeepCopy()
	if templateHash(&copied, nil) != h {
		t.Error("equal templates hash differently")
	}
	if templateHash(&b, nil) == h {
		t.Error("different templates hash alike")
	}
	if templateHash(&a, ptr.To(int32(0))) == h || templateHash(&a, ptr.To(int32(1))) == templateHash(&a, ptr.To(int32(0))) {
		t.Error("the collision count does not change the hash")
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a, b := template("web:1"), template("web:1")
	b.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "abc"
	if !equalIgnoreHash(&a, &b) {
		t.Error("templates differing only by the hash label differ")
	}
	if a.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" || b.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "abc" {
		t.Error("the comparison changed its arguments")
	}
	noLabels := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "x"}}}
	if !equalIgnoreHash(&noLabels, &corev1.PodTemplateSpec{}) {
		t.Error("a template with only the hash label differs from one without labels")
	}
	c := template("web:2")
	if equalIgnoreHash(&a, &c) {
		t.Error("different images compare equal")
	}
}

func TestNewReplicaSetIsNamedAfterTheTemplateHash(t *testing.T) {
	d := testDeployment(5, intstr.FromInt32(1), intstr.FromInt32(1))
	hash := templateHash(&d.Spec.Template, nil)
	rs := newReplicaSet(d, hash)
	if rs.Name != "web-"+hash || rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("replica set %s labels %v selector %v", rs.Name, rs.Labels, rs.Spec.Selector)
	}
	if d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" || d.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != "" {
		t.Error("the Deployment was changed")
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" || !*ref.BlockOwnerDeletion {
		t.Errorf("owner %+v", ref)
	}
}

func TestFindNewAndOldReplicaSets(t *testing.T) {
	d := testDeployment(3, intstr.FromInt32(1), intstr.FromInt32(1))
	older, newer, other := testRS("a", 1, 1, 1, 0), testRS("b", 1, 1, 1, 5), testRS("c", 1, 1, 1, 1)
	older.Spec.Template, newer.Spec.Template = d.Spec.Template, d.Spec.Template
	newer.Spec.Template.Labels = map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "h"}
	sets := []*appsv1.ReplicaSet{newer, other, older}
	// Two ReplicaSets of the template (upstream issue 40415): the oldest is the new one.
	if got := findNewReplicaSet(d, sets); got != older {
		t.Fatalf("new replica set %v, want the oldest of the template", got)
	}
	old := oldReplicaSets(sets, older)
	if len(old) != 2 || old[0] != newer || old[1] != other {
		t.Errorf("old replica sets %v", old)
	}
	if findNewReplicaSet(d, []*appsv1.ReplicaSet{other}) != nil {
		t.Error("found a new replica set of another template")
	}
}

func TestRevisions(t *testing.T) {
	sets := []*appsv1.ReplicaSet{
		withAnnotations(testRS("a", 0, 0, 0, 0), RevisionAnnotation, "3"),
		withAnnotations(testRS("b", 0, 0, 0, 0), RevisionAnnotation, "12"),
		withAnnotations(testRS("c", 0, 0, 0, 0), RevisionAnnotation, "x"),
		testRS("d", 0, 0, 0, 0),
		nil,
	}
	if got := maxRevision(sets); got != 12 {
		t.Errorf("max revision %d, want 12 (numerically)", got)
	}
	if got := maxRevision(nil); got != 0 {
		t.Errorf("max revision of nothing %d", got)
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := testDeployment(4, intstr.FromString("25%"), intstr.FromInt32(0))
	d.Annotations = map[string]string{
		"kubernetes.io/change-cause":       "kubectl set image",
		corev1.LastAppliedConfigAnnotation: "{}",
		RevisionAnnotation:                 "7",
		appsv1.DeprecatedRollbackTo:        "1",
	}
	tests := []struct {
		name        string
		rs          *appsv1.ReplicaSet
		newRevision string
		exists      bool
		changed     bool
		want        map[string]string
	}{
		{
			name: "a ReplicaSet to create gets the revision and the replica annotations", rs: testRS("n", 0, 0, 0, 0),
			newRevision: "3", changed: true,
			want: map[string]string{RevisionAnnotation: "3", DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5",
				"kubernetes.io/change-cause": "kubectl set image"},
		},
		{
			name:        "an old ReplicaSet brought back keeps its former revision in the history",
			rs:          withAnnotations(testRS("o", 1, 1, 1, 0), RevisionAnnotation, "2", RevisionHistoryAnnotation, "1"),
			newRevision: "5", exists: true, changed: true,
			want: map[string]string{RevisionAnnotation: "5", RevisionHistoryAnnotation: "1,2", "kubernetes.io/change-cause": "kubectl set image"},
		},
		{
			name:        "a revision never goes down",
			rs:          withAnnotations(testRS("o", 1, 1, 1, 0), RevisionAnnotation, "9", "kubernetes.io/change-cause", "kubectl set image"),
			newRevision: "5", exists: true, changed: false,
			want: map[string]string{RevisionAnnotation: "9"},
		},
		{
			name:        "an unreadable revision is left alone",
			rs:          withAnnotations(testRS("o", 1, 1, 1, 0), RevisionAnnotation, "nine"),
			newRevision: "5", exists: true, changed: false,
			want: map[string]string{RevisionAnnotation: "nine"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := setNewReplicaSetAnnotations(d, tt.rs, tt.newRevision, tt.exists)
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			for k, v := range tt.want {
				if tt.rs.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, tt.rs.Annotations[k], v)
				}
			}
			for _, k := range []string{corev1.LastAppliedConfigAnnotation, appsv1.DeprecatedRollbackTo} {
				if _, ok := tt.rs.Annotations[k]; ok {
					t.Errorf("annotation %s copied from the Deployment", k)
				}
			}
		})
	}
}

func TestAppendRevisionHistory(t *testing.T) {
	if got := appendRevisionHistory("", "4"); got != "4" {
		t.Errorf("first entry: %q", got)
	}
	if got := appendRevisionHistory("1,2", "4"); got != "1,2,4" {
		t.Errorf("appended: %q", got)
	}
	long := strings.Repeat("1234,", maxRevisionHistoryLength/5) + "9"
	got := appendRevisionHistory(long, "77")
	if len(got) > maxRevisionHistoryLength || !strings.HasSuffix(got, ",9,77") || strings.HasPrefix(got, ",") {
		t.Errorf("history of %d chars ending %q", len(got), got[len(got)-10:])
	}
}

func TestReplicasAnnotations(t *testing.T) {
	rs := testRS("a", 1, 1, 1, 0)
	if !setReplicasAnnotations(rs, 10, 13) || rs.Annotations[DesiredReplicasAnnotation] != "10" || rs.Annotations[MaxReplicasAnnotation] != "13" {
		t.Fatalf("annotations %v", rs.Annotations)
	}
	if setReplicasAnnotations(rs, 10, 13) || replicasAnnotationsNeedUpdate(rs, 10, 13) {
		t.Error("unchanged annotations reported as changed")
	}
	for v, ok := range map[string]bool{"0": true, "13": true, "-1": false, "x": false, "2147483648": false} {
		rs.Annotations[DesiredReplicasAnnotation] = v
		if _, got := intAnnotation(rs, DesiredReplicasAnnotation); got != ok {
			t.Errorf("annotation %q valid = %v, want %v", v, got, ok)
		}
	}
}
