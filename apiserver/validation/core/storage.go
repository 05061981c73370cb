package core

import (
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedAccessModes     = sets.New(corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)
	supportedReclaimPolicies = sets.New(corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain)
	supportedVolumeModes     = sets.New(corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)
)

// validateAccessModes checks access modes are known and that ReadWriteOncePod stands alone.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	rwop, other := false, false
	for _, m := range modes {
		if !supportedAccessModes.Has(m) {
			allErrs = append(allErrs, field.NotSupported(fldPath, m, sets.List(supportedAccessModes)))
			continue
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return allErrs
}

// validateBasicResource rejects negative quantities in status fields.
func validateBasicResource(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Value() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.Value(), "must be a valid resource quantity")}
	}
	return nil
}

// ValidatePersistentVolume validates a PersistentVolume on create.
func ValidatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMeta(&pv.ObjectMeta, false, nameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validatePersistentVolumeSpec(&pv.Spec, pv.Name, field.NewPath("spec"))...)
}

func validatePersistentVolumeSpec(spec *corev1.PersistentVolumeSpec, pvName string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("accessModes"), ""))
	}
	allErrs = append(allErrs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)

	capPath := fldPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		allErrs = append(allErrs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		allErrs = append(allErrs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedResourceNames(spec.Capacity) {
		q := spec.Capacity[name]
		allErrs = append(allErrs, validateBasicResource(q, capPath.Key(string(name)))...)
		allErrs = append(allErrs, validatePositiveQuantity(q, capPath.Key(string(name)))...)
	}

	if p := spec.PersistentVolumeReclaimPolicy; p != "" && !supportedReclaimPolicies.Has(p) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("persistentVolumeReclaimPolicy"), p, sets.List(supportedReclaimPolicies)))
	}

	hasNodeAffinity := false
	if na := spec.NodeAffinity; na != nil {
		hasNodeAffinity = true
		if na.Required == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			allErrs = append(allErrs, validateNodeSelector(na.Required, true, fldPath.Child("nodeAffinity", "required"))...)
		}
	}

	src := &spec.PersistentVolumeSource
	kinds := []volumeKind{
		{"hostPath", src.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPathVolumeSource(src.HostPath, p) }},
		{"gcePersistentDisk", src.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return validateDiskPartition(src.GCEPersistentDisk.PDName, "pdName", src.GCEPersistentDisk.Partition, p)
		}},
		{"awsElasticBlockStore", src.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return validateDiskPartition(src.AWSElasticBlockStore.VolumeID, "volumeID", src.AWSElasticBlockStore.Partition, p)
		}},
		{"glusterfs", src.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			errs := requireStrings(p, "endpoints", src.Glusterfs.EndpointsName, "path", src.Glusterfs.Path)
			if ns := src.Glusterfs.EndpointsNamespace; ns != nil {
				if *ns == "" {
					errs = append(errs, field.Invalid(p.Child("endpointsNamespace"), *ns, "if the endpointnamespace is set, it must be a valid namespace name"))
				} else {
					errs = append(errs, validateName(nameIsDNSLabel, *ns, p.Child("endpointsNamespace"))...)
				}
			}
			return errs
		}},
		{"flocker", src.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(src.Flocker, p) }},
		{"nfs", src.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFSVolumeSource(src.NFS, p) }},
		{"rbd", src.RBD != nil, func(p *field.Path) field.ErrorList { return validateRBD(src.RBD.CephMonitors, src.RBD.RBDImage, p) }},
		{"quobyte", src.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "registry", src.Quobyte.Registry, "volume", src.Quobyte.Volume)
		}},
		{"cephfs", src.CephFS != nil, func(p *field.Path) field.ErrorList { return requireList(p.Child("monitors"), len(src.CephFS.Monitors)) }},
		{"iscsi", src.ISCSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateISCSI(src.ISCSI.TargetPortal, src.ISCSI.IQN, src.ISCSI.Lun, p)
			if src.ISCSI.InitiatorName != nil && len(pvName+":"+src.ISCSI.TargetPortal) > 64 {
				errs = append(errs, field.Invalid(p.Child("targetportal"), src.ISCSI.TargetPortal,
					"Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
			}
			return errs
		}},
		{"cinder", src.Cinder != nil, func(p *field.Path) field.ErrorList {
			errs := requireStrings(p, "volumeID", src.Cinder.VolumeID)
			if ref := src.Cinder.SecretRef; ref != nil {
				errs = append(errs, requireStrings(p.Child("secretRef"), "name", ref.Name, "namespace", ref.Namespace)...)
			}
			return errs
		}},
		{"fc", src.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(src.FC, p) }},
		{"flexVolume", src.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return validateFlex(src.FlexVolume.Driver, src.FlexVolume.Options, p)
		}},
		{"azureFile", src.AzureFile != nil, func(p *field.Path) field.ErrorList {
			errs := requireStrings(p, "secretName", src.AzureFile.SecretName, "shareName", src.AzureFile.ShareName)
			if ns := src.AzureFile.SecretNamespace; ns != nil && *ns == "" {
				errs = append(errs, field.Required(p.Child("secretNamespace"), ""))
			}
			return errs
		}},
		{"vsphereVolume", src.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "volumePath", src.VsphereVolume.VolumePath)
		}},
		{"photonPersistentDisk", src.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "pdID", src.PhotonPersistentDisk.PdID)
		}},
		{"portworxVolume", src.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "volumeID", src.PortworxVolume.VolumeID)
		}},
		{"azureDisk", src.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "diskName", src.AzureDisk.DiskName, "diskURI", src.AzureDisk.DataDiskURI)
		}},
		{"scaleIO", src.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "gateway", src.ScaleIO.Gateway, "system", src.ScaleIO.System, "volumeName", src.ScaleIO.VolumeName)
		}},
		{"local", src.Local != nil, func(p *field.Path) field.ErrorList {
			if src.Local.Path == "" {
				return field.ErrorList{field.Required(p.Child("path"), "")}
			}
			errs := validatePathNoBacksteps(src.Local.Path, p.Child("path"))
			// A local volume exists on one node only; the scheduler needs to know which.
			if !hasNodeAffinity {
				errs = append(errs, field.Required(fldPath.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
			return errs
		}},
		{"storageos", src.StorageOS != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "volumeName", src.StorageOS.VolumeName)
		}},
		{"csi", src.CSI != nil, func(p *field.Path) field.ErrorList { return validateCSIPersistentVolumeSource(src.CSI, p) }},
	}
	allErrs = append(allErrs, validateUnion(kinds, fldPath)...)

	// Recycling scrubs the volume; on a hostPath of "/" that would wipe the node.
	if src.HostPath != nil && path.Clean(src.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if spec.StorageClassName != "" {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, spec.StorageClassName, fldPath.Child("storageClassName"))...)
	}
	if m := spec.VolumeMode; m != nil && !supportedVolumeModes.Has(*m) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *m, sets.List(supportedVolumeModes)))
	}
	if vac := spec.VolumeAttributesClassName; vac != nil {
		if *vac == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("volumeAttributesClassName"), "an empty string is disallowed"))
		} else {
			allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *vac, fldPath.Child("volumeAttributesClassName"))...)
		}
		if src.CSI == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("csi"), "has to be specified when using volumeAttributesClassName"))
		}
	}
	return allErrs
}

func validateCSIPersistentVolumeSource(csi *corev1.CSIPersistentVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateCSIDriverName(csi.Driver, fldPath.Child("driver"))
	if csi.VolumeHandle == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("volumeHandle"), ""))
	}
	for _, ref := range []struct {
		name string
		ref  *corev1.SecretReference
	}{
		{"controllerPublishSecretRef", csi.ControllerPublishSecretRef},
		{"controllerExpandSecretRef", csi.ControllerExpandSecretRef},
		{"nodePublishSecretRef", csi.NodePublishSecretRef},
		{"nodeExpandSecretRef", csi.NodeExpandSecretRef},
		{"nodeStageSecretRef", csi.NodeStageSecretRef},
	} {
		if ref.ref == nil {
			continue
		}
		p := fldPath.Child(ref.name)
		if ref.ref.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		} else {
			allErrs = append(allErrs, validateDNS1123Subdomain(ref.ref.Name, p.Child("name"))...)
		}
		if ref.ref.Namespace == "" {
			allErrs = append(allErrs, field.Required(p.Child("namespace"), ""))
		} else {
			allErrs = append(allErrs, validateDNS1123Label(ref.ref.Namespace, p.Child("namespace"))...)
		}
	}
	return allErrs
}

// ValidatePersistentVolumeUpdate validates an update of a PersistentVolume: the volume source and
// mode never change; node affinity is fixed once set; a volume attributes class cannot be removed.
func ValidatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validatePersistentVolumeSpec(&pv.Spec, pv.Name, field.NewPath("spec"))...)

	newSrc := pv.Spec.PersistentVolumeSource
	// Adding an expansion secret to an existing CSI volume is allowed, so volumes created before
	// expansion was configured can still be expanded.
	if old.Spec.CSI != nil && old.Spec.CSI.ControllerExpandSecretRef == nil && newSrc.CSI != nil && newSrc.CSI.ControllerExpandSecretRef != nil {
		csi := *newSrc.CSI
		csi.ControllerExpandSecretRef = nil
		newSrc.CSI = &csi
	}
	if !equality.Semantic.DeepEqual(newSrc, old.Spec.PersistentVolumeSource) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"),
			fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", diff.Diff(old.Spec.PersistentVolumeSource, newSrc))))
	}
	allErrs = append(allErrs, validateImmutableField(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("spec", "volumeMode"))...)
	if old.Spec.NodeAffinity != nil && !equality.Semantic.DeepEqual(pv.Spec.NodeAffinity, old.Spec.NodeAffinity) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "nodeAffinity"), pv.Spec.NodeAffinity, fieldImmutableErrorMsg))
	}
	if old.Spec.VolumeAttributesClassName != nil && pv.Spec.VolumeAttributesClassName == nil {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
	}
	return allErrs
}

// ValidatePersistentVolumeStatusUpdate validates a write to persistentvolumes/status.
func ValidatePersistentVolumeStatusUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if pv.ResourceVersion == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("resourceVersion"), ""))
	}
	return allErrs
}

// ValidatePersistentVolumeClaim validates a PersistentVolumeClaim on create.
func ValidatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMeta(&pvc.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidatePersistentVolumeClaimSpec(&pvc.Spec, field.NewPath("spec"))...)
}

// ValidatePersistentVolumeClaimSpec validates a claim spec; it is exported for StatefulSet
// volumeClaimTemplates.
func ValidatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	if spec.Selector != nil {
		allErrs = append(allErrs, metavalidation.ValidateLabelSelector(spec.Selector, strictSelector, fldPath.Child("selector"))...)
	}
	allErrs = append(allErrs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)

	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		allErrs = append(allErrs, field.Required(storagePath, ""))
	} else if errs := validatePositiveQuantity(q, storagePath); len(errs) != 0 {
		allErrs = append(allErrs, errs...)
	} else {
		allErrs = append(allErrs, validateResourceQuantityValue(corev1.ResourceStorage, q, storagePath)...)
	}
	if sc := spec.StorageClassName; sc != nil && *sc != "" {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *sc, fldPath.Child("storageClassName"))...)
	}
	if m := spec.VolumeMode; m != nil && !supportedVolumeModes.Has(*m) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *m, sets.List(supportedVolumeModes)))
	}
	if ds := spec.DataSource; ds != nil {
		allErrs = append(allErrs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, fldPath.Child("dataSource"))...)
	}
	if ref := spec.DataSourceRef; ref != nil {
		p := fldPath.Child("dataSourceRef")
		allErrs = append(allErrs, validateDataSource(ref.Name, ref.Kind, ref.APIGroup, p)...)
		if ref.Namespace != nil && *ref.Namespace != "" {
			allErrs = append(allErrs, validateName(nameIsDNSLabel, *ref.Namespace, p.Child("namespace"))...)
		}
	}
	if ref := spec.DataSourceRef; ref != nil && ref.Namespace != nil && *ref.Namespace != "" {
		if spec.DataSource != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, fldPath.Child("dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
		}
	} else if ds := spec.DataSource; ds != nil && ref != nil {
		if !equality.Semantic.DeepEqual(ds.APIGroup, ref.APIGroup) || ds.Kind != ref.Kind || ds.Name != ref.Name {
			allErrs = append(allErrs, field.Invalid(fldPath, fldPath.Child("dataSource"), "must match dataSourceRef"))
		}
	}
	if vac := spec.VolumeAttributesClassName; vac != nil && *vac != "" {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *vac, fldPath.Child("volumeAttributesClassName"))...)
	}
	return allErrs
}

func validateDataSource(name, kind string, apiGroup *string, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "name", name, "kind", kind)
	group := ""
	if apiGroup != nil {
		group = *apiGroup
	}
	if group == "" && kind != "PersistentVolumeClaim" {
		allErrs = append(allErrs, field.Invalid(fldPath, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if group != "" {
		allErrs = append(allErrs, validateDNS1123Subdomain(group, fldPath.Child("apiGroup"))...)
	}
	return allErrs
}

// ValidatePersistentVolumeClaimUpdate validates an update of a claim. The spec is immutable except:
// volumeName may be set once (binding), storageClassName may replace the beta annotation or be set
// when unset, and a bound claim may change its storage request and volume attributes class.
func ValidatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidatePersistentVolumeClaim(pvc)...)

	newSpec := pvc.Spec.DeepCopy()
	oldSpec := old.Spec.DeepCopy()
	if old.Spec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	oldAnnotation, oldHasAnnotation := old.Annotations[corev1.BetaStorageClassAnnotation]
	newAnnotation, newHasAnnotation := pvc.Annotations[corev1.BetaStorageClassAnnotation]
	switch {
	case oldHasAnnotation && old.Spec.StorageClassName == nil && pvc.Spec.StorageClassName != nil &&
		*pvc.Spec.StorageClassName == oldAnnotation && (!newHasAnnotation || newAnnotation == oldAnnotation):
		// Moving the class from the beta annotation to the field.
		newSpec.StorageClassName = nil
	default:
		allErrs = append(allErrs, validateImmutableAnnotation(newAnnotation, oldAnnotation, corev1.BetaStorageClassAnnotation, field.NewPath("metadata"))...)
		if pvc.Spec.StorageClassName != nil && old.Spec.StorageClassName == nil &&
			(!oldHasAnnotation || *pvc.Spec.StorageClassName == oldAnnotation) {
			// Setting a class on a claim that had none, for claims created before a default class existed.
			newSpec.StorageClassName = oldSpec.StorageClassName
		}
	}
	bound := pvc.Status.Phase == corev1.ClaimBound
	if bound && newSpec.Resources.Requests != nil {
		if q, ok := old.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			newSpec.Resources.Requests[corev1.ResourceStorage] = q
		} else {
			delete(newSpec.Resources.Requests, corev1.ResourceStorage)
		}
	}
	if bound && newSpec.VolumeAttributesClassName != nil {
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"),
			fmt.Sprintf("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff.Diff(oldSpec, newSpec))))
	}

	// Shrinking is only allowed to recover from a failed expansion, and never to or below what the
	// volume already provides.
	oldSize := old.Spec.Resources.Requests[corev1.ResourceStorage]
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	statusSize := old.Status.Capacity[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 && newSize.Cmp(statusSize) <= 0 {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	allErrs = append(allErrs, validateImmutableField(pvc.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("spec", "volumeMode"))...)
	if old.Spec.VolumeAttributesClassName != nil && !equality.Semantic.DeepEqual(old.Spec.VolumeAttributesClassName, pvc.Spec.VolumeAttributesClassName) {
		vacPath := field.NewPath("spec", "volumeAttributesClassName")
		if pvc.Spec.VolumeAttributesClassName == nil {
			allErrs = append(allErrs, field.Forbidden(vacPath, "update from non-nil value to nil is forbidden"))
		} else if *pvc.Spec.VolumeAttributesClassName == "" {
			allErrs = append(allErrs, field.Forbidden(vacPath, "update from non-nil value to an empty string is forbidden"))
		}
	}
	return allErrs
}

func validateImmutableAnnotation(newVal, oldVal, key string, fldPath *field.Path) field.ErrorList {
	if newVal != oldVal {
		return field.ErrorList{field.Invalid(fldPath.Child("annotations", key), newVal, fieldImmutableErrorMsg)}
	}
	return nil
}

var supportedResizeStatuses = sets.New(
	corev1.PersistentVolumeClaimControllerResizeInProgress, corev1.PersistentVolumeClaimControllerResizeInfeasible,
	corev1.PersistentVolumeClaimNodeResizePending, corev1.PersistentVolumeClaimNodeResizeInProgress,
	corev1.PersistentVolumeClaimNodeResizeInfeasible)

// ValidatePersistentVolumeClaimStatusUpdate validates a write to persistentvolumeclaims/status.
func ValidatePersistentVolumeClaimStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if pvc.ResourceVersion == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("resourceVersion"), ""))
	}
	if len(pvc.Spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(field.NewPath("spec", "accessModes"), ""))
	}
	capPath := field.NewPath("status", "capacity")
	for _, name := range sortedResourceNames(pvc.Status.Capacity) {
		allErrs = append(allErrs, validateBasicResource(pvc.Status.Capacity[name], capPath.Key(string(name)))...)
	}
	statusPath := field.NewPath("status", "allocatedResourceStatuses")
	for name, st := range pvc.Status.AllocatedResourceStatuses {
		allErrs = append(allErrs, validateClaimResourceKey(name, statusPath)...)
		if !supportedResizeStatuses.Has(st) {
			allErrs = append(allErrs, field.NotSupported(statusPath, name, sets.List(supportedResizeStatuses)))
		}
	}
	allocPath := field.NewPath("status", "allocatedResources")
	for _, name := range sortedResourceNames(pvc.Status.AllocatedResources) {
		if errs := validateClaimResourceKey(name, allocPath); len(errs) != 0 {
			allErrs = append(allErrs, errs...)
			continue
		}
		q := pvc.Status.AllocatedResources[name]
		if errs := validateBasicResource(q, allocPath.Key(string(name))); len(errs) != 0 {
			allErrs = append(allErrs, errs...)
		} else {
			allErrs = append(allErrs, validateResourceQuantityValue(corev1.ResourceStorage, q, allocPath.Key(string(name)))...)
		}
	}
	return allErrs
}

// validateClaimResourceKey: claims only track storage among the native resources.
func validateClaimResourceKey(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	if errs := validateQualifiedName(string(name), fldPath); len(errs) != 0 {
		return errs
	}
	if isNativeResource(name) && name != corev1.ResourceStorage {
		return field.ErrorList{field.NotSupported(fldPath, name, []corev1.ResourceName{corev1.ResourceStorage})}
	}
	return nil
}
