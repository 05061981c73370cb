package persistentvolume

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"
)

const (
	rwo = corev1.ReadWriteOnce
	rox = corev1.ReadOnlyMany
	rwx = corev1.ReadWriteMany
)

// pv is an Available volume of size and class with access modes.
func pv(name, size, class string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   modes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
}

// pvc is a claim of size in class (nil: no class) with access modes.
func pvc(name, size string, class *string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			StorageClassName: class,
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func boundTo(v *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	v = v.DeepCopy()
	v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
	v.Status.Phase = corev1.VolumeBound
	return v
}

func with[T any](obj T, change func(T)) T {
	change(obj)
	return obj
}

func TestFindBestMatch(t *testing.T) {
	claim := pvc("data", "2Gi", nil, rwo)
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		delay   bool
		want    string
	}{
		{name: "the smallest volume that is large enough",
			volumes: []*corev1.PersistentVolume{pv("big", "10Gi", "", rwo), pv("small", "1Gi", "", rwo), pv("fit", "5Gi", "", rwo)},
			want:    "fit"},
		{name: "an exactly sized volume",
			volumes: []*corev1.PersistentVolume{pv("big", "10Gi", "", rwo), pv("exact", "2Gi", "", rwo)}, want: "exact"},
		{name: "no volume large enough",
			volumes: []*corev1.PersistentVolume{pv("small", "1Gi", "", rwo)}},
		{name: "only volumes of the claim's class",
			volumes: []*corev1.PersistentVolume{pv("gold", "2Gi", "gold", rwo), pv("plain", "3Gi", "", rwo)}, want: "plain"},
		{name: "a claim of a class takes volumes of that class",
			claim:   pvc("data", "2Gi", ptr.To("gold"), rwo),
			volumes: []*corev1.PersistentVolume{pv("gold", "3Gi", "gold", rwo), pv("plain", "2Gi", "", rwo)}, want: "gold"},
		{name: "a volume must have all the claim's access modes",
			claim:   pvc("data", "2Gi", nil, rwo, rox),
			volumes: []*corev1.PersistentVolume{pv("rwo", "2Gi", "", rwo), pv("both", "5Gi", "", rwo, rox)}, want: "both"},
		{name: "volumes with the fewest extra access modes come first, even larger",
			volumes: []*corev1.PersistentVolume{pv("many", "2Gi", "", rwo, rox, rwx), pv("rwo", "8Gi", "", rwo)}, want: "rwo"},
		{name: "volumes not Available are skipped",
			volumes: []*corev1.PersistentVolume{with(pv("pending", "2Gi", "", rwo), func(v *corev1.PersistentVolume) {
				v.Status.Phase = corev1.VolumePending
			}), pv("ok", "3Gi", "", rwo)}, want: "ok"},
		{name: "volumes bound to another claim are skipped",
			volumes: []*corev1.PersistentVolume{boundTo(pv("taken", "2Gi", "", rwo), pvc("other", "1Gi", nil, rwo)), pv("ok", "3Gi", "", rwo)},
			want:    "ok"},
		{name: "volumes being deleted are skipped",
			volumes: []*corev1.PersistentVolume{with(pv("going", "2Gi", "", rwo), func(v *corev1.PersistentVolume) {
				v.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			}), pv("ok", "3Gi", "", rwo)}, want: "ok"},
		{name: "volumes of another volume mode are skipped",
			volumes: []*corev1.PersistentVolume{with(pv("block", "2Gi", "", rwo), func(v *corev1.PersistentVolume) {
				v.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
			}), pv("ok", "3Gi", "", rwo)}, want: "ok"},
		{name: "the claim's selector must match the volume's labels",
			claim: with(pvc("data", "2Gi", nil, rwo), func(c *corev1.PersistentVolumeClaim) {
				c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "ssd"}}
			}),
			volumes: []*corev1.PersistentVolume{pv("hdd", "2Gi", "", rwo), with(pv("ssd", "4Gi", "", rwo), func(v *corev1.PersistentVolume) {
				v.Labels = map[string]string{"disk": "ssd"}
			})}, want: "ssd"},
		{name: "a volume pre-bound to the claim wins over a smaller one",
			volumes: []*corev1.PersistentVolume{pv("small", "2Gi", "", rwo), with(pv("mine", "9Gi", "", rwo), func(v *corev1.PersistentVolume) {
				v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "data"}
			})}, want: "mine"},
		{name: "with delayed binding free volumes are left to the scheduler",
			volumes: []*corev1.PersistentVolume{pv("free", "2Gi", "", rwo)}, delay: true},
		{name: "with delayed binding a volume provisioned for the claim is taken",
			volumes: []*corev1.PersistentVolume{pv("free", "2Gi", "", rwo), with(boundTo(pv("provisioned", "2Gi", "", rwo), claim), func(v *corev1.PersistentVolume) {
				v.Status.Phase = corev1.VolumePending
			})}, delay: true, want: "provisioned"},
		{name: "among equal volumes the first by name",
			volumes: []*corev1.PersistentVolume{pv("a", "2Gi", "", rwo), pv("b", "2Gi", "", rwo)}, want: "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.claim
			if c == nil {
				c = claim
			}
			got, err := findBestMatch(c, tc.volumes, tc.delay)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case got == nil && tc.want != "":
				t.Errorf("no match, want %s", tc.want)
			case got != nil && got.Name != tc.want:
				t.Errorf("matched %s, want %q", got.Name, tc.want)
			}
		})
	}
}

func TestCheckVolumeSatisfiesClaim(t *testing.T) {
	claim := pvc("data", "2Gi", ptr.To("gold"), rwo)
	tests := []struct {
		name   string
		volume *corev1.PersistentVolume
		want   string
	}{
		{"a fitting volume", pv("v", "2Gi", "gold", rwo, rox), ""},
		{"too small", pv("v", "1Gi", "gold", rwo), "requested PV is too small"},
		{"another class", pv("v", "2Gi", "silver", rwo), "storageClassName does not match"},
		{"missing access mode", pv("v", "2Gi", "gold", rox), "incompatible accessMode"},
		{"another volume mode", with(pv("v", "2Gi", "gold", rwo), func(v *corev1.PersistentVolume) {
			v.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
		}), "incompatible volumeMode"},
		{"being deleted", with(pv("v", "2Gi", "gold", rwo), func(v *corev1.PersistentVolume) {
			v.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}), `the volume is marked for deletion "v"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkVolumeSatisfiesClaim(tc.volume, claim)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBoundClaim(t *testing.T) {
	volume := pv("v", "5Gi", "", rwo)
	claim := pvc("data", "2Gi", nil, rwo)

	out, changed := boundClaim(claim, volume)
	if !changed || out.Spec.VolumeName != "v" || out.Annotations[storagehelpers.AnnBoundByController] != "yes" ||
		out.Annotations[storagehelpers.AnnBindCompleted] != "yes" {
		t.Errorf("bound by the controller: changed %v, %+v %v", changed, out.Spec, out.Annotations)
	}
	if claim.Spec.VolumeName != "" || claim.Annotations != nil {
		t.Error("the input claim was modified")
	}

	again, changed := boundClaim(out, volume)
	if changed || again.Spec.VolumeName != "v" {
		t.Errorf("binding a bound claim again changes it: %v", again.Annotations)
	}

	userBound := claim.DeepCopy()
	userBound.Spec.VolumeName = "v"
	out, changed = boundClaim(userBound, volume)
	if !changed || metav1.HasAnnotation(out.ObjectMeta, storagehelpers.AnnBoundByController) || out.Annotations[storagehelpers.AnnBindCompleted] != "yes" {
		t.Errorf("a claim the user bound is not marked bound-by-controller, only completed: %v", out.Annotations)
	}
}

func TestUnboundVolume(t *testing.T) {
	claim := pvc("data", "2Gi", nil, rwo)
	byController := boundTo(pv("v", "5Gi", "", rwo), claim)
	byController.Annotations = map[string]string{storagehelpers.AnnBoundByController: "yes"}
	out := unboundVolume(byController)
	if out.Spec.ClaimRef != nil || out.Annotations != nil {
		t.Errorf("a volume the controller bound is freed: %+v %v", out.Spec.ClaimRef, out.Annotations)
	}
	byUser := boundTo(pv("v", "5Gi", "", rwo), claim)
	out = unboundVolume(byUser)
	if out.Spec.ClaimRef == nil || out.Spec.ClaimRef.Name != "data" || out.Spec.ClaimRef.UID != "" {
		t.Errorf("a volume the user pre-bound keeps its claim name, not its UID: %+v", out.Spec.ClaimRef)
	}
	if byUser.Spec.ClaimRef.UID == "" {
		t.Error("the input volume was modified")
	}
}

func TestClaimStatus(t *testing.T) {
	volume := pv("v", "5Gi", "", rwo, rox)
	pending := pvc("data", "2Gi", nil, rwo)

	status, changed, err := claimStatus(pending, corev1.ClaimBound, volume)
	if err != nil || !changed {
		t.Fatalf("binding changes status: %v %v", changed, err)
	}
	if status.Phase != corev1.ClaimBound || len(status.AccessModes) != 2 || status.Capacity.Storage().String() != "5Gi" {
		t.Errorf("bound status %+v: want Bound with the volume's modes and capacity", status)
	}

	bound := pending.DeepCopy()
	bound.Status = status
	if _, changed, _ := claimStatus(bound, corev1.ClaimBound, volume); changed {
		t.Error("a bound claim's status is rewritten")
	}

	resized := bound.DeepCopy()
	resized.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("4Gi")}
	if status, changed, _ := claimStatus(resized, corev1.ClaimBound, volume); changed || status.Capacity.Storage().String() != "4Gi" {
		t.Error("the capacity of a claim already bound is kept")
	}

	status, changed, _ = claimStatus(bound, corev1.ClaimLost, nil)
	if !changed || status.Phase != corev1.ClaimLost || status.AccessModes != nil || status.Capacity != nil {
		t.Errorf("a lost claim reports no volume: %+v", status)
	}

	noCapacity := volume.DeepCopy()
	noCapacity.Spec.Capacity = nil
	if _, _, err := claimStatus(pending, corev1.ClaimBound, noCapacity); err == nil {
		t.Error("a volume without capacity is an error")
	}
}

func TestVolumeStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	volume := pv("v", "5Gi", "", rwo)
	status, changed := volumeStatus(volume, corev1.VolumeBound, "", now)
	if !changed || status.Phase != corev1.VolumeBound || status.LastPhaseTransitionTime == nil || !status.LastPhaseTransitionTime.Time.Equal(now) {
		t.Errorf("a phase change: %+v", status)
	}
	if _, changed := volumeStatus(volume, corev1.VolumeAvailable, "", now); changed {
		t.Error("the same phase is no change")
	}
	status, changed = volumeStatus(volume, corev1.VolumeAvailable, "note", now)
	if !changed || status.LastPhaseTransitionTime != nil || status.Message != "note" {
		t.Errorf("a new message alone does not move the transition time: %+v", status)
	}
}

func TestIndexValues(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
	}}}
	if got := podClaims(pod); len(got) != 2 || got[0] != "ns/data-web-0" || got[1] != "ns/web-0-scratch" {
		t.Errorf("podClaims = %v", got)
	}

	waiting := pvc("data", "1Gi", ptr.To("gold"), rwo)
	if got := unboundClaimClass(waiting); len(got) != 1 || got[0] != "gold" {
		t.Errorf("a claim looking for a volume is indexed by class: %v", got)
	}
	if got := unboundClaimClass(pvc("data", "1Gi", nil, rwo)); len(got) != 1 || got[0] != "" {
		t.Errorf("a claim without class is indexed by \"\": %v", got)
	}
	named := with(waiting.DeepCopy(), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" })
	if got := unboundClaimClass(named); got != nil {
		t.Errorf("a claim naming its volume is not waiting: %v", got)
	}

	if got := volumeClaimRef(boundTo(pv("v", "1Gi", "", rwo), waiting)); len(got) != 1 || got[0] != "ns/data" {
		t.Errorf("volumeClaimRef = %v", got)
	}
	if got := volumeClaimRef(pv("v", "1Gi", "", rwo)); got != nil {
		t.Errorf("a free volume has no claim: %v", got)
	}
}

func TestDelayBinding(t *testing.T) {
	if delayBinding(nil) {
		t.Error("no class binds at once")
	}
	if delayBinding(&storagev1.StorageClass{VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)}) {
		t.Error("an Immediate class binds at once")
	}
	if !delayBinding(&storagev1.StorageClass{VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}) {
		t.Error("a WaitForFirstConsumer class waits")
	}
}
