package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func nodeAffinityFor(node string) *corev1.VolumeNodeAffinity {
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}}
}

// validPV is a local volume as the local-path provisioner creates it.
func validPV() *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1234", ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              "local-path",
			VolumeMode:                    ptr(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/lib/skiff/storage/pvc-1234"}},
			NodeAffinity:                  nodeAffinityFor("node-1"),
		},
	}
}

func TestValidatePersistentVolume(t *testing.T) {
	runCases(t, validPV, ValidatePersistentVolume, []tcase[corev1.PersistentVolume]{
		{name: "local volume passes"},
		{name: "hostPath volume passes", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}
			pv.Spec.NodeAffinity = nil
		}},
		{name: "nfs volume passes", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.local", Path: "/exports/a"}}
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadOnlyMany}
		}},
		{name: "csi volume passes", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: "vol-1",
				NodePublishSecretRef: &corev1.SecretReference{Name: "creds", Namespace: "kube-system"}}}
		}},

		{name: "name is a DNS subdomain", mutate: func(pv *corev1.PersistentVolume) { pv.Name = "PV 1" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "volumes have no namespace", mutate: func(pv *corev1.PersistentVolume) { pv.Namespace = "default" }, typ: field.ErrorTypeForbidden, field: "metadata.namespace"},
		{name: "access modes are required", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil }, typ: field.ErrorTypeRequired, field: "spec.accessModes"},
		{name: "access modes are an enum", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteSometimes"}
		},
			typ: field.ErrorTypeNotSupported, field: "spec.accessModes"},
		{name: "ReadWriteOncePod stands alone", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce}
		}, typ: field.ErrorTypeForbidden, field: "spec.accessModes"},
		{name: "capacity is required", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil }, typ: field.ErrorTypeRequired, field: "spec.capacity"},
		{name: "capacity is storage only", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceCPU] = resource.MustParse("1") },
			typ: field.ErrorTypeNotSupported, field: "spec.capacity"},
		{name: "capacity is positive", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") },
			typ: field.ErrorTypeInvalid, field: "spec.capacity[storage]"},
		{name: "reclaim policy is an enum", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Keep" },
			typ: field.ErrorTypeNotSupported, field: "spec.persistentVolumeReclaimPolicy"},
		{name: "a volume source is required", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{} },
			typ: field.ErrorTypeRequired, field: "spec", detail: "must specify a volume type"},
		{name: "one volume source only", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/data"} },
			typ: field.ErrorTypeForbidden, field: "spec.local"},
		{name: "local volumes need node affinity", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil },
			typ: field.ErrorTypeRequired, field: "spec.nodeAffinity"},
		{name: "node affinity needs required terms", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{} },
			typ: field.ErrorTypeRequired, field: "spec.nodeAffinity.required"},
		{name: "local path is required", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Local.Path = "" },
			typ: field.ErrorTypeRequired, field: "spec.local.path"},
		{name: "nfs path is absolute", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.local", Path: "exports"}}
		}, typ: field.ErrorTypeInvalid, field: "spec.nfs.path"},
		{name: "csi needs a volume handle", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com"}}
		}, typ: field.ErrorTypeRequired, field: "spec.csi.volumeHandle"},
		{name: "csi secret refs need a namespace", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: "v",
				ControllerPublishSecretRef: &corev1.SecretReference{Name: "creds"}}}
		}, typ: field.ErrorTypeRequired, field: "spec.csi.controllerPublishSecretRef.namespace"},
		{name: "recycling the root is refused", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
		}, typ: field.ErrorTypeForbidden, field: "spec.persistentVolumeReclaimPolicy"},
		{name: "storage class is a DNS subdomain", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.StorageClassName = "Fast SSD" },
			typ: field.ErrorTypeInvalid, field: "spec.storageClassName"},
		{name: "volume mode is an enum", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr(corev1.PersistentVolumeMode("Raw")) },
			typ: field.ErrorTypeNotSupported, field: "spec.volumeMode"},
		{name: "volume attributes classes need CSI", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.VolumeAttributesClassName = ptr("gold") },
			typ: field.ErrorTypeRequired, field: "spec.csi"},
	})
}

func TestValidatePersistentVolumeUpdate(t *testing.T) {
	runUpdateCases(t, validPV, ValidatePersistentVolumeUpdate, []ucase[corev1.PersistentVolume]{
		{name: "binding to a claim passes", change: func(pv *corev1.PersistentVolume) {
			pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data"}
		}},
		{name: "reclaim policy may change", change: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}},
		{name: "capacity may change", change: func(pv *corev1.PersistentVolume) {
			pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("20Gi")
		}},
		{name: "volume source is immutable", change: func(pv *corev1.PersistentVolume) { pv.Spec.Local.Path = "/elsewhere" },
			typ: field.ErrorTypeForbidden, field: "spec.persistentvolumesource"},
		{name: "volume mode is immutable", change: func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr(corev1.PersistentVolumeBlock) },
			typ: field.ErrorTypeInvalid, field: "spec.volumeMode"},
		{name: "node affinity is immutable once set", change: func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nodeAffinityFor("node-2") },
			typ: field.ErrorTypeInvalid, field: "spec.nodeAffinity"},
		{name: "an expansion secret may be added to a CSI volume", setup: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: "v"}}
		}, change: func(pv *corev1.PersistentVolume) {
			pv.Spec.CSI.ControllerExpandSecretRef = &corev1.SecretReference{Name: "expand", Namespace: "kube-system"}
		}},
	})
	runUpdateCases(t, validPV, ValidatePersistentVolumeStatusUpdate, []ucase[corev1.PersistentVolume]{
		{name: "phase may change", change: func(pv *corev1.PersistentVolume) { pv.Status.Phase = corev1.VolumeBound }},
		{name: "resourceVersion is required", change: func(pv *corev1.PersistentVolume) { pv.ResourceVersion = "" },
			typ: field.ErrorTypeRequired, field: "resourceVersion"},
	})
}

func validPVC() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			StorageClassName: ptr("local-path"),
			VolumeMode:       ptr(corev1.PersistentVolumeFilesystem),
		},
	}
}

func TestValidatePersistentVolumeClaim(t *testing.T) {
	runCases(t, validPVC, ValidatePersistentVolumeClaim, []tcase[corev1.PersistentVolumeClaim]{
		{name: "valid claim passes"},
		{name: "claim cloning another claim passes", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
		}},
		{name: "name is a DNS subdomain", mutate: func(c *corev1.PersistentVolumeClaim) { c.Name = "Data!" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "namespace is required", mutate: func(c *corev1.PersistentVolumeClaim) { c.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
		{name: "access modes are required", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil },
			typ: field.ErrorTypeRequired, field: "spec.accessModes", detail: "at least 1 access mode is required"},
		{name: "access modes are an enum", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"RWO"} },
			typ: field.ErrorTypeNotSupported, field: "spec.accessModes"},
		{name: "storage request is required", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil },
			typ: field.ErrorTypeRequired, field: "spec.resources[storage]"},
		{name: "storage request is positive", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		},
			typ: field.ErrorTypeInvalid, field: "spec.resources[storage]", detail: "must be greater than zero"},
		{name: "selector is a valid label selector", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b c"}}
		}, typ: field.ErrorTypeInvalid, field: "spec.selector.matchLabels"},
		{name: "storage class is a DNS subdomain", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr("Local Path") },
			typ: field.ErrorTypeInvalid, field: "spec.storageClassName"},
		{name: "volume mode is an enum", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr(corev1.PersistentVolumeMode("Raw")) },
			typ: field.ErrorTypeNotSupported, field: "spec.volumeMode"},
		{name: "core data sources are claims", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "Pod", Name: "x"}
		}, typ: field.ErrorTypeInvalid, field: "spec.dataSource"},
		{name: "data source and ref must agree", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "a"}
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "b"}
		}, typ: field.ErrorTypeInvalid, field: "spec", detail: "must match dataSourceRef"},
	})
}

func TestValidatePersistentVolumeClaimUpdate(t *testing.T) {
	bound := func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "pvc-1234"
		c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	}
	runUpdateCases(t, validPVC, ValidatePersistentVolumeClaimUpdate, []ucase[corev1.PersistentVolumeClaim]{
		{name: "volumeName may be set once", change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pvc-1234" }},
		{name: "bound claims may grow", setup: bound, change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}},
		{name: "bound claims may not shrink below their capacity", setup: bound, change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("512Mi")
		}, typ: field.ErrorTypeForbidden, field: "spec.resources.requests.storage"},
		{name: "unbound claims may not change their request", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, typ: field.ErrorTypeForbidden, field: "spec", detail: "spec is immutable after creation"},
		{name: "access modes are immutable", setup: bound, change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, typ: field.ErrorTypeForbidden, field: "spec"},
		{name: "volumeName may not change once set", setup: bound, change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "other" },
			typ: field.ErrorTypeForbidden, field: "spec"},
		{name: "storage class may be set when unset", setup: func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = nil },
			change: func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr("local-path") }},
		{name: "storage class may move from the beta annotation", setup: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.StorageClassName = nil
			c.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "fast"}
		}, change: func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr("fast") }},
		{name: "storage class may not change", change: func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr("fast") },
			typ: field.ErrorTypeForbidden, field: "spec"},
		{name: "volume mode is immutable", change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr(corev1.PersistentVolumeBlock) },
			typ: field.ErrorTypeInvalid, field: "spec.volumeMode"},
	})
	runUpdateCases(t, validPVC, ValidatePersistentVolumeClaimStatusUpdate, []ucase[corev1.PersistentVolumeClaim]{
		{name: "binding status passes", change: bound},
		{name: "allocated resources track storage only", change: func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		}, typ: field.ErrorTypeNotSupported, field: "status.allocatedResources"},
		{name: "resize status is an enum", change: func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: "Stuck"}
		}, typ: field.ErrorTypeNotSupported, field: "status.allocatedResourceStatuses"},
		{name: "capacity is not negative", change: func(c *corev1.PersistentVolumeClaim) {
			c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("-1Gi")}
		}, typ: field.ErrorTypeInvalid, field: "status.capacity[storage]"},
	})
}

func TestValidatePersistentVolumeClaimTemplate(t *testing.T) {
	tpl := func() *corev1.PersistentVolumeClaimTemplate {
		return &corev1.PersistentVolumeClaimTemplate{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}}, Spec: validPVC().Spec}
	}
	validate := func(t *corev1.PersistentVolumeClaimTemplate) field.ErrorList {
		return ValidatePersistentVolumeClaimTemplate(t, field.NewPath("spec", "volumeClaimTemplates").Index(0))
	}
	runCases(t, tpl, validate, []tcase[corev1.PersistentVolumeClaimTemplate]{
		{name: "valid template passes"},
		{name: "template metadata may only carry labels and annotations", mutate: func(t *corev1.PersistentVolumeClaimTemplate) { t.Namespace = "x" },
			typ: field.ErrorTypeForbidden, field: "spec.volumeClaimTemplates[0].metadata.namespace"},
		{name: "template spec is validated", mutate: func(t *corev1.PersistentVolumeClaimTemplate) { t.Spec.AccessModes = nil },
			typ: field.ErrorTypeRequired, field: "spec.volumeClaimTemplates[0].spec.accessModes"},
	})
}
