package statefulset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// newSet is a StatefulSet "web" of n replicas as the API defaults it, with a claim template "data".
func newSet(n int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(n),
			ServiceName:         "nginx",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1"}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
					},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "storage"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func TestParentAndOrdinalReadsThePodName(t *testing.T) {
	tests := []struct {
		name    string
		parent  string
		ordinal int
	}{
		{"web-0", "web", 0},
		{"web-12", "web", 12},
		{"my-web-3", "my-web", 3},
		{"web", "", -1},
		{"web-", "", -1},
		{"web-x", "", -1},
		{"web-99999999999", "", -1},
	}
	for _, tc := range tests {
		parent, ordinal := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}})
		if parent != tc.parent || ordinal != tc.ordinal {
			t.Errorf("%q: got %q, %d; want %q, %d", tc.name, parent, ordinal, tc.parent, tc.ordinal)
		}
	}
}

func TestOrdinalRangeHonoursOrdinalsStart(t *testing.T) {
	set := newSet(3)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	for name, want := range map[string]bool{"web-4": false, "web-5": true, "web-7": true, "web-8": false, "other-5": true} {
		if got := inOrdinalRange(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}); got != want {
			t.Errorf("%s in range = %v, want %v", name, got, want)
		}
	}
	if !isMemberOf(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-9"}}) || isMemberOf(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other-5"}}) {
		t.Error("membership is by the set's name")
	}
}

func TestNewPodHasTheStableIdentityAndStorageOfItsOrdinal(t *testing.T) {
	set := newSet(3)
	pod := newPod(set, 2)
	if pod.Name != "web-2" || pod.Namespace != "ns" {
		t.Errorf("pod %s/%s, want ns/web-2", pod.Namespace, pod.Name)
	}
	if pod.Spec.Hostname != "web-2" || pod.Spec.Subdomain != "nginx" {
		t.Errorf("hostname %q subdomain %q, want web-2 and nginx", pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	wantLabels := map[string]string{"app": "web", appsv1.StatefulSetPodNameLabel: "web-2", appsv1.PodIndexLabel: "2"}
	for k, v := range wantLabels {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
		}
	}
	if pod.Annotations["a"] != "b" {
		t.Errorf("annotations %v, want the template's", pod.Annotations)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != "set-uid" || ref.Kind != "StatefulSet" {
		t.Errorf("controller %+v, want the set", ref)
	}
	// The claim replaces the template's volume of the same name; other volumes stay.
	if len(pod.Spec.Volumes) != 2 || pod.Spec.Volumes[0].Name != "data" || pod.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-2" || pod.Spec.Volumes[1].Name != "config" {
		t.Errorf("volumes %+v, want data from claim data-web-2, then config", pod.Spec.Volumes)
	}
	if !identityMatches(set, pod) || !storageMatches(set, pod) {
		t.Error("a new pod does not match its own identity and storage")
	}
	pod.Labels["app"] = "changed"
	if set.Spec.Template.Labels["app"] != "web" {
		t.Error("the pod shares its labels with the template")
	}
}

func TestIdentityAndStorageMismatchesAreRepaired(t *testing.T) {
	set := newSet(3)
	pod := newPod(set, 1)
	delete(pod.Labels, appsv1.StatefulSetPodNameLabel)
	pod.Spec.Volumes = pod.Spec.Volumes[1:]
	if identityMatches(set, pod) || storageMatches(set, pod) {
		t.Fatal("mismatches not seen")
	}
	updateIdentity(set, pod)
	updateStorage(set, pod)
	if !identityMatches(set, pod) || !storageMatches(set, pod) {
		t.Errorf("not repaired: labels %v volumes %+v", pod.Labels, pod.Spec.Volumes)
	}
}

func TestClaimsForNamesAndLabelsEachClaim(t *testing.T) {
	set := newSet(3)
	claims := claimsFor(set, newPod(set, 1))
	if len(claims) != 1 {
		t.Fatalf("%d claims, want 1", len(claims))
	}
	c := claims[0]
	if c.Name != "data-web-1" || c.Namespace != "ns" || c.Labels["tier"] != "storage" || c.Labels["app"] != "web" {
		t.Errorf("claim %s/%s labels %v", c.Namespace, c.Name, c.Labels)
	}
	if set.Spec.VolumeClaimTemplates[0].Labels["app"] != "" {
		t.Error("claimsFor wrote into the set's template")
	}
}

func TestNewRevisionedPodTakesTheRevisionOfItsSideOfThePartition(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*appsv1.StatefulSet)
		ordinals map[int]string
	}{
		{"partition 0 makes every pod at the update revision", func(*appsv1.StatefulSet) {},
			map[int]string{0: "update", 2: "update"}},
		{"pods below the partition stay at the current revision", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
		}, map[int]string{0: "current", 1: "current", 2: "update"}},
		{"the partition counts from ordinals.start", func(s *appsv1.StatefulSet) {
			s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 10}
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](1)
		}, map[int]string{10: "current", 11: "update"}},
		{"without parameters the current replicas stay current", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = nil
			s.Status.CurrentReplicas = 1
		}, map[int]string{0: "current", 1: "update"}},
		{"OnDelete makes new pods at the update revision", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}, map[int]string{0: "update", 2: "update"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			current, update := newSet(3), newSet(3)
			tc.mutate(current)
			update.Spec.Template.Spec.Containers[0].Image = "nginx:2"
			for ordinal, want := range tc.ordinals {
				pod := newRevisionedPod(current, update, "current", "update", ordinal)
				image := map[string]string{"current": "nginx:1", "update": "nginx:2"}[want]
				if revisionOf(pod) != want || pod.Spec.Containers[0].Image != image {
					t.Errorf("ordinal %d: revision %q image %q, want %q with %s", ordinal, revisionOf(pod), pod.Spec.Containers[0].Image, want, image)
				}
			}
		})
	}
}

func TestMaxUnavailableRoundsDownToAtLeastOne(t *testing.T) {
	tests := []struct {
		value *intstr.IntOrString
		n     int32
		want  int
	}{
		{nil, 5, 1},
		{ptr.To(intstr.FromInt32(3)), 5, 3},
		{ptr.To(intstr.FromString("50%")), 5, 2},
		{ptr.To(intstr.FromString("10%")), 5, 1},
		{ptr.To(intstr.FromString("bad")), 5, 1},
	}
	for _, tc := range tests {
		set := newSet(tc.n)
		set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = tc.value
		if got := maxUnavailable(set); got != tc.want {
			t.Errorf("maxUnavailable %v of %d = %d, want %d", tc.value, tc.n, got, tc.want)
		}
	}
}

func TestAvailabilityWaitsMinReadySecondsAfterReady(t *testing.T) {
	now := time.Now()
	ready := func(since time.Duration) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-since))}}}}
	}
	notReady := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		minReady int32
		want     bool
	}{
		{"ready pod without minReadySeconds", ready(0), 0, true},
		{"ready long enough", ready(11 * time.Second), 10, true},
		{"ready too shortly", ready(3 * time.Second), 10, false},
		{"not ready", notReady, 0, false},
	}
	for _, tc := range tests {
		if got := isRunningAndAvailable(tc.pod, tc.minReady, now); got != tc.want {
			t.Errorf("%s: available = %v, want %v", tc.name, got, tc.want)
		}
	}
	if d := availableIn(ready(3*time.Second), 10, now); d < 6*time.Second || d > 8*time.Second {
		t.Errorf("available in %v, want about 7s", d)
	}
}

func TestMadeFromRecognisesTheSetsClaimNames(t *testing.T) {
	set := newSet(3)
	for name, want := range map[string]bool{
		"data-web-0": true, "data-web-12": true, "data-web-": false, "data-web-x": false, "data-web-01": false,
		"data-webby-0": false, "logs-web-0": false, "data-web-0-1": false,
	} {
		if got := madeFrom(set, name); got != want {
			t.Errorf("madeFrom(%q) = %v, want %v", name, got, want)
		}
	}
}
