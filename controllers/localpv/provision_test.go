package localpv

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/internal/storageclass"
)

func claim(modify ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "shop", UID: "1234", ResourceVersion: "7",
			Annotations: map[string]string{
				storagehelpers.AnnStorageProvisioner: ProvisionerName,
				storagehelpers.AnnSelectedNode:       "node-1",
			}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(StorageClassName),
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}},
		},
	}
	for _, m := range modify {
		m(c)
	}
	return c
}

func node(name string, annotations map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations,
		Labels: map[string]string{corev1.LabelHostname: name}}}
}

func TestShouldProvision(t *testing.T) {
	wffc := DefaultStorageClass(true)
	immediate := DefaultStorageClass(false)
	immediate.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	other := DefaultStorageClass(false)
	other.Provisioner = "example.com/other"
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		class *storagev1.StorageClass
		want  bool
	}{
		{"a claim handed to this provisioner with a node", claim(), wffc, true},
		{"the beta annotation hands it too", claim(func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
			c.Annotations[storagehelpers.AnnBetaStorageProvisioner] = ProvisionerName
		}), wffc, true},
		{"not before the binder hands it over", claim(func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
		}), wffc, false},
		{"not when handed to another provisioner", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Annotations[storagehelpers.AnnStorageProvisioner] = "example.com/other"
		}), wffc, false},
		{"not before the scheduler chooses a node", claim(func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnSelectedNode)
		}), wffc, false},
		{"an Immediate class needs no node to try", claim(func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnSelectedNode)
		}), immediate, true},
		{"not for a class of another provisioner", claim(), other, false},
		{"not without class", claim(), nil, false},
		{"not for a bound claim", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv" }), wffc, false},
		{"not for a claim being deleted", claim(func(c *corev1.PersistentVolumeClaim) {
			c.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}), wffc, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldProvision(tc.claim, tc.class); got != tc.want {
				t.Errorf("shouldProvision = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVolumeFor(t *testing.T) {
	class := DefaultStorageClass(true)
	class.MountOptions = []string{"noatime"}
	v, err := volumeFor(claim(), class, node("node-1", nil), DefaultDataDir)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "pvc-1234" || v.Annotations[storagehelpers.AnnDynamicallyProvisioned] != ProvisionerName {
		t.Errorf("name %s, annotations %v", v.Name, v.Annotations)
	}
	if v.Spec.HostPath == nil || v.Spec.HostPath.Path != "/var/lib/skiff/agent/storage/pvc-1234_shop_data" ||
		ptr.Deref(v.Spec.HostPath.Type, "") != corev1.HostPathDirectoryOrCreate {
		t.Errorf("host path %+v", v.Spec.HostPath)
	}
	terms := v.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || terms[0].MatchExpressions[0].Key != corev1.LabelHostname ||
		terms[0].MatchExpressions[0].Operator != corev1.NodeSelectorOpIn || terms[0].MatchExpressions[0].Values[0] != "node-1" {
		t.Errorf("node affinity %+v", v.Spec.NodeAffinity)
	}
	if got := v.Spec.Capacity[corev1.ResourceStorage]; got.String() != "3Gi" {
		t.Errorf("capacity %s", got.String())
	}
	if len(v.Spec.AccessModes) != 1 || v.Spec.AccessModes[0] != corev1.ReadWriteOnce || v.Spec.StorageClassName != StorageClassName ||
		v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || len(v.Spec.MountOptions) != 1 {
		t.Errorf("spec %+v", v.Spec)
	}
	ref := v.Spec.ClaimRef
	if ref == nil || ref.Kind != "PersistentVolumeClaim" || ref.Namespace != "shop" || ref.Name != "data" || ref.UID != "1234" {
		t.Errorf("claimRef %+v", ref)
	}

	retain := DefaultStorageClass(false)
	retain.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
	if v, _ := volumeFor(claim(), retain, node("node-1", nil), DefaultDataDir); v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("the class's reclaim policy is not used: %s", v.Spec.PersistentVolumeReclaimPolicy)
	}
}

func TestVolumeForNode(t *testing.T) {
	tests := []struct {
		name     string
		node     *corev1.Node
		path     string
		hostname string
		wantErr  bool
	}{
		{"the node's data dir annotation", node("n", map[string]string{DataDirAnnotation: "/srv/skiff/"}), "/srv/skiff/storage/pvc-1234_shop_data", "n", false},
		{"the default data dir without it", node("n", nil), "/data/default/storage/pvc-1234_shop_data", "n", false},
		{"a relative data dir is refused", node("n", map[string]string{DataDirAnnotation: "skiff"}), "", "", true},
		{"the hostname label, not the name, in the affinity", func() *corev1.Node {
			n := node("n", nil)
			n.Labels[corev1.LabelHostname] = "n.example.com"
			return n
		}(), "/data/default/storage/pvc-1234_shop_data", "n.example.com", false},
		{"the name for a node without hostname label", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
			"/data/default/storage/pvc-1234_shop_data", "bare", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := volumeFor(claim(), DefaultStorageClass(true), tc.node, "/data/default")
			if tc.wantErr {
				if err == nil {
					t.Error("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Spec.HostPath.Path != tc.path {
				t.Errorf("path %s, want %s", v.Spec.HostPath.Path, tc.path)
			}
			if got := v.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values; len(got) != 1 || got[0] != tc.hostname {
				t.Errorf("affinity values %v, want %s", got, tc.hostname)
			}
		})
	}
}

func TestVolumeForRefusesWhatALocalVolumeCannotBe(t *testing.T) {
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
	}{
		{"block volumes", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) })},
		{"ReadWriteMany", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		})},
		{"ReadOnlyMany", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany}
		})},
		{"no storage request", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := volumeFor(tc.claim, DefaultStorageClass(true), node("n", nil), DefaultDataDir); err == nil {
				t.Error("want an error")
			}
		})
	}
	if _, err := volumeFor(claim(func(c *corev1.PersistentVolumeClaim) {
		c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
	}), DefaultStorageClass(true), node("n", nil), DefaultDataDir); err != nil {
		t.Errorf("ReadWriteOncePod is a local volume's mode: %v", err)
	}
}

func TestShouldDelete(t *testing.T) {
	released := func(modify ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: ProvisionerName}},
			Spec:       corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete},
			Status:     corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
		}
		for _, m := range modify {
			m(v)
		}
		return v
	}
	tests := []struct {
		name   string
		volume *corev1.PersistentVolume
		want   bool
	}{
		{"a released volume it made with policy Delete", released(), true},
		{"not a bound one", released(func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeBound }), false},
		{"not a failed one", released(func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeFailed }), false},
		{"not one to retain", released(func(v *corev1.PersistentVolume) {
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}), false},
		{"not another provisioner's", released(func(v *corev1.PersistentVolume) {
			v.Annotations[storagehelpers.AnnDynamicallyProvisioned] = "example.com/other"
		}), false},
		{"not a static one", released(func(v *corev1.PersistentVolume) { v.Annotations = nil }), false},
		{"not one being deleted", released(func(v *corev1.PersistentVolume) { v.DeletionTimestamp = &metav1.Time{Time: time.Now()} }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldDelete(tc.volume); got != tc.want {
				t.Errorf("shouldDelete = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultStorageClass(t *testing.T) {
	class := DefaultStorageClass(true)
	if class.Name != "local-path" || class.Provisioner != "skiff.dev/local-path" || !storageclass.IsDefault(class) ||
		*class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || *class.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("class %+v", class)
	}
	if storageclass.IsDefault(DefaultStorageClass(false)) {
		t.Error("a class not to be the default is marked default")
	}
}
