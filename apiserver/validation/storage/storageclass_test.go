package storage

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

func validStorageClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "local-path", ResourceVersion: "1"},
		Provisioner:       "rancher.io/local-path",
		Parameters:        map[string]string{"nodePath": "/var/lib/skiff/storage"},
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
			{Key: "topology.kubernetes.io/zone", Values: []string{"a", "b"}},
		}}},
	}
}

func TestValidateStorageClass(t *testing.T) {
	topo := path("allowedTopologies")
	cases := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		want   field.ErrorList
	}{
		{"valid class passes", func(*storagev1.StorageClass) {}, nil},
		{"upper-case provisioner is tolerated", func(sc *storagev1.StorageClass) { sc.Provisioner = "kubernetes.io/AWS-EBS" }, nil},
		{"class is cluster-scoped", func(sc *storagev1.StorageClass) { sc.Namespace = "default" }, field.ErrorList{
			field.Forbidden(path("metadata", "namespace"), ""),
		}},
		{"provisioner is required", func(sc *storagev1.StorageClass) { sc.Provisioner = "" }, field.ErrorList{
			field.Required(path("provisioner"), ""),
		}},
		{"provisioner must be a qualified name", func(sc *storagev1.StorageClass) { sc.Provisioner = "local path" }, field.ErrorList{
			field.Invalid(path("provisioner"), nil, "name part must consist of alphanumeric characters"),
		}},
		{"parameter keys may not be empty", func(sc *storagev1.StorageClass) { sc.Parameters[""] = "x" }, field.ErrorList{
			field.Invalid(path("parameters"), nil, "field can not be empty."),
		}},
		{"parameters are limited to 256KiB", func(sc *storagev1.StorageClass) { sc.Parameters["big"] = strings.Repeat("x", 256<<10) }, field.ErrorList{
			field.TooLong(path("parameters"), "", 256<<10),
		}},
		{"unknown reclaim policy is not supported", func(sc *storagev1.StorageClass) {
			sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle)
		}, field.ErrorList{
			field.NotSupported(path("reclaimPolicy"), "Recycle", []string{"Delete", "Retain"}),
		}},
		{"volumeBindingMode is required", func(sc *storagev1.StorageClass) { sc.VolumeBindingMode = nil }, field.ErrorList{
			field.Required(path("volumeBindingMode"), ""),
		}},
		{"unknown volumeBindingMode is not supported", func(sc *storagev1.StorageClass) {
			sc.VolumeBindingMode = ptr.To[storagev1.VolumeBindingMode]("Lazy")
		}, field.ErrorList{
			field.NotSupported(path("volumeBindingMode"), "Lazy", []string{"Immediate", "WaitForFirstConsumer"}),
		}},
		{"topology terms are checked", func(sc *storagev1.StorageClass) {
			sc.AllowedTopologies = []corev1.TopologySelectorTerm{
				{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
					{Key: "bad key", Values: []string{"a", "a"}},
					{Key: "bad key"},
				}},
			}
		}, field.ErrorList{
			field.Duplicate(topo.Index(0).Child("matchLabelExpressions").Index(0).Child("values").Index(1), "a"),
			field.Invalid(topo.Index(0).Child("matchLabelExpressions").Index(0).Child("key"), nil, ""),
			field.Required(topo.Index(0).Child("matchLabelExpressions").Index(1).Child("values"), ""),
			field.Invalid(topo.Index(0).Child("matchLabelExpressions").Index(1).Child("key"), nil, ""),
			field.Duplicate(topo.Index(0).Child("matchLabelExpressions").Index(1).Child("key"), "bad key"),
		}},
		{"repeated topology terms are duplicates", func(sc *storagev1.StorageClass) {
			sc.AllowedTopologies = append(sc.AllowedTopologies, sc.AllowedTopologies[0])
		}, field.ErrorList{
			field.Duplicate(topo.Index(1).Child("matchLabelExpressions"), ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := validStorageClass()
			tc.mutate(sc)
			matcher.Test(t, tc.want, ValidateStorageClass(sc))
		})
	}
}

func TestValidateStorageClassUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		want   field.ErrorList
	}{
		{"mount options and expansion may change", func(sc *storagev1.StorageClass) {
			sc.MountOptions = []string{"noatime"}
			sc.AllowVolumeExpansion = ptr.To(true)
			sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}, nil},
		{"provisioner is immutable", func(sc *storagev1.StorageClass) { sc.Provisioner = "example.com/nfs" }, field.ErrorList{
			field.Forbidden(path("provisioner"), "updates to provisioner are forbidden."),
		}},
		{"parameters are immutable", func(sc *storagev1.StorageClass) { sc.Parameters["nodePath"] = "/data" }, field.ErrorList{
			field.Forbidden(path("parameters"), "updates to parameters are forbidden."),
		}},
		{"reclaimPolicy is immutable", func(sc *storagev1.StorageClass) { sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain) }, field.ErrorList{
			field.Forbidden(path("reclaimPolicy"), "updates to reclaimPolicy are forbidden."),
		}},
		{"volumeBindingMode is immutable", func(sc *storagev1.StorageClass) {
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
		}, field.ErrorList{
			field.Invalid(path("volumeBindingMode"), nil, "field is immutable"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validStorageClass()
			sc := old.DeepCopy()
			tc.mutate(sc)
			matcher.Test(t, tc.want, ValidateStorageClassUpdate(sc, old))
		})
	}
}
