package core

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// volumeKind is one member of a union of volume sources: its JSON name, whether it is set, and how
// to validate it. Unions are checked in declaration order, so the first set member wins and every
// later one is reported as an extra volume type.
type volumeKind struct {
	name     string
	set      bool
	validate func(*field.Path) field.ErrorList
}

// validateUnion validates the one set member of a volume source union.
func validateUnion(kinds []volumeKind, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	count := 0
	for _, k := range kinds {
		if !k.set {
			continue
		}
		if count > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(k.name), multipleVolumeTypesMsg))
			continue
		}
		count++
		if k.validate != nil {
			allErrs = append(allErrs, k.validate(fldPath.Child(k.name))...)
		}
	}
	if count == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

// validateVolumes checks pod volumes and returns the valid ones by name, for mount checks.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path, opts podOptions) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	byName := map[string]corev1.VolumeSource{}
	// Generic ephemeral volumes create PVCs named <pod>-<volume>; a PVC volume must not point at one.
	createdPVCs := sets.New[string]()
	if podMeta != nil && podMeta.Name != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				createdPVCs.Insert(podMeta.Name + "-" + v.Name)
			}
		}
	}
	for i, v := range volumes {
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		errs := validateVolumeSource(&v.VolumeSource, v.Name, podMeta, idxPath, opts)
		if v.Name == "" {
			errs = append(errs, field.Required(namePath, ""))
		} else {
			errs = append(errs, validateDNS1123Label(v.Name, namePath)...)
		}
		if _, dup := byName[v.Name]; dup {
			errs = append(errs, field.Duplicate(namePath, v.Name))
		}
		if len(errs) == 0 {
			byName[v.Name] = v.VolumeSource
		} else {
			allErrs = append(allErrs, errs...)
		}
		if v.PersistentVolumeClaim != nil && createdPVCs.Has(v.PersistentVolumeClaim.ClaimName) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("persistentVolumeClaim", "claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return byName, allErrs
}

func validateVolumeSource(src *corev1.VolumeSource, volName string, podMeta *metav1.ObjectMeta, fldPath *field.Path, opts podOptions) field.ErrorList {
	kinds := []volumeKind{
		{"emptyDir", src.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if src.EmptyDir.SizeLimit != nil && src.EmptyDir.SizeLimit.Sign() < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"hostPath", src.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPathVolumeSource(src.HostPath, p) }},
		{"gitRepo", src.GitRepo != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if src.GitRepo.Repository == "" {
				errs = append(errs, field.Required(p.Child("repository"), ""))
			}
			return append(errs, validateLocalDescendingPath(src.GitRepo.Directory, p.Child("directory"))...)
		}},
		{"gcePersistentDisk", src.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return validateDiskPartition(src.GCEPersistentDisk.PDName, "pdName", src.GCEPersistentDisk.Partition, p)
		}},
		{"awsElasticBlockStore", src.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return validateDiskPartition(src.AWSElasticBlockStore.VolumeID, "volumeID", src.AWSElasticBlockStore.Partition, p)
		}},
		{"secret", src.Secret != nil, func(p *field.Path) field.ErrorList { return validateSecretVolumeSource(src.Secret, p) }},
		{"nfs", src.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFSVolumeSource(src.NFS, p) }},
		{"iscsi", src.ISCSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateISCSI(src.ISCSI.TargetPortal, src.ISCSI.IQN, src.ISCSI.Lun, p)
			if src.ISCSI.InitiatorName != nil && len(volName+":"+src.ISCSI.TargetPortal) > 64 {
				errs = append(errs, field.Invalid(fldPath.Child("name"), volName,
					"Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
			}
			return errs
		}},
		{"glusterfs", src.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "endpoints", src.Glusterfs.EndpointsName, "path", src.Glusterfs.Path)
		}},
		{"persistentVolumeClaim", src.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "claimName", src.PersistentVolumeClaim.ClaimName)
		}},
		{"rbd", src.RBD != nil, func(p *field.Path) field.ErrorList {
			return validateRBD(src.RBD.CephMonitors, src.RBD.RBDImage, p)
		}},
		{"flexVolume", src.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return validateFlex(src.FlexVolume.Driver, src.FlexVolume.Options, p)
		}},
		{"cinder", src.Cinder != nil, func(p *field.Path) field.ErrorList {
			errs := requireStrings(p, "volumeID", src.Cinder.VolumeID)
			if src.Cinder.SecretRef != nil && src.Cinder.SecretRef.Name == "" {
				errs = append(errs, field.Required(p.Child("secretRef", "name"), ""))
			}
			return errs
		}},
		{"cephfs", src.CephFS != nil, func(p *field.Path) field.ErrorList {
			return requireList(p.Child("monitors"), len(src.CephFS.Monitors))
		}},
		{"flocker", src.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(src.Flocker, p) }},
		{"downwardAPI", src.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			errs := validateFileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for i := range src.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIVolumeFile(&src.DownwardAPI.Items[i], p.Child("items").Index(i))...)
			}
			return errs
		}},
		{"fc", src.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(src.FC, p) }},
		{"azureFile", src.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "secretName", src.AzureFile.SecretName, "shareName", src.AzureFile.ShareName)
		}},
		{"configMap", src.ConfigMap != nil, func(p *field.Path) field.ErrorList { return validateConfigMapVolumeSource(src.ConfigMap, p) }},
		{"vsphereVolume", src.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "volumePath", src.VsphereVolume.VolumePath)
		}},
		{"quobyte", src.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "registry", src.Quobyte.Registry, "volume", src.Quobyte.Volume)
		}},
		{"azureDisk", src.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "diskName", src.AzureDisk.DiskName, "diskURI", src.AzureDisk.DataDiskURI)
		}},
		{"photonPersistentDisk", src.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "pdID", src.PhotonPersistentDisk.PdID)
		}},
		{"projected", src.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjectedVolumeSource(src.Projected, p, opts) }},
		{"portworxVolume", src.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "volumeID", src.PortworxVolume.VolumeID)
		}},
		{"scaleIO", src.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return requireStrings(p, "gateway", src.ScaleIO.Gateway, "system", src.ScaleIO.System, "volumeName", src.ScaleIO.VolumeName)
		}},
		{"storageos", src.StorageOS != nil, func(p *field.Path) field.ErrorList {
			errs := requireStrings(p, "volumeName", src.StorageOS.VolumeName)
			if src.StorageOS.VolumeName != "" {
				errs = append(errs, validateDNS1123Label(src.StorageOS.VolumeName, p.Child("volumeName"))...)
			}
			return errs
		}},
		{"csi", src.CSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateCSIDriverName(src.CSI.Driver, p.Child("driver"))
			if ref := src.CSI.NodePublishSecretRef; ref != nil {
				if ref.Name == "" {
					errs = append(errs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
				} else {
					errs = append(errs, validateName(nameIsDNSSubdomain, ref.Name, p.Child("nodePublishSecretRef", "name"))...)
				}
			}
			return errs
		}},
		{"ephemeral", src.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			if src.Ephemeral.VolumeClaimTemplate == nil {
				return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
			}
			errs := ValidatePersistentVolumeClaimTemplate(src.Ephemeral.VolumeClaimTemplate, p.Child("volumeClaimTemplate"))
			// The generated PVC name must itself be valid.
			if podMeta != nil && podMeta.Name != "" && volName != "" {
				pvcName := podMeta.Name + "-" + volName
				for _, msg := range nameIsDNSSubdomain(pvcName, false) {
					errs = append(errs, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvcName, msg)))
				}
			}
			return errs
		}},
		{"image", src.Image != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if opts.resourceIsPod && src.Image.Reference == "" {
				errs = append(errs, field.Required(p.Child("reference"), ""))
			}
			return append(errs, validatePullPolicy(src.Image.PullPolicy, p.Child("pullPolicy"))...)
		}},
	}
	return validateUnion(kinds, fldPath)
}

// requireStrings reports each empty value among name/value pairs as Required.
func requireStrings(fldPath *field.Path, pairs ...string) field.ErrorList {
	var allErrs field.ErrorList
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child(pairs[i]), ""))
		}
	}
	return allErrs
}

func requireList(fldPath *field.Path, n int) field.ErrorList {
	if n == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

var supportedHostPathTypes = sets.New(
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev)

func validateHostPathVolumeSource(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hp.Path, fldPath.Child("path"))
	if hp.Type != nil && !supportedHostPathTypes.Has(*hp.Type) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), *hp.Type, sets.List(supportedHostPathTypes)))
	}
	return allErrs
}

func validateDiskPartition(id, idField string, partition int32, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, idField, id)
	if partition < 0 || partition > 255 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("partition"), partition, "must be between 1 and 255, inclusive"))
	}
	return allErrs
}

func validateNFSVolumeSource(nfs *corev1.NFSVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "server", nfs.Server, "path", nfs.Path)
	if !path.IsAbs(nfs.Path) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return allErrs
}

func validateISCSI(portal, iqn string, lun int32, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "targetPortal", portal, "iqn", iqn)
	if iqn != "" && !strings.HasPrefix(iqn, "iqn") && !strings.HasPrefix(iqn, "eui") && !strings.HasPrefix(iqn, "naa") {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("iqn"), iqn, "must be valid format starting with iqn, eui, or naa"))
	}
	if lun < 0 || lun > 255 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("lun"), lun, "must be between 0 and 255, inclusive"))
	}
	return allErrs
}

func validateRBD(monitors []string, image string, fldPath *field.Path) field.ErrorList {
	allErrs := requireList(fldPath.Child("monitors"), len(monitors))
	return append(allErrs, requireStrings(fldPath, "image", image)...)
}

// validateFlex checks a flex volume driver and keeps its options out of the kubernetes.io and
// k8s.io namespaces, which the kubelet fills in itself.
func validateFlex(driver string, options map[string]string, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "driver", driver)
	for _, k := range sortedKeys(options) {
		ns := k
		if parts := strings.SplitN(k, "/", 2); len(parts) == 2 {
			ns = parts[0]
		}
		normalized := "." + strings.ToLower(ns)
		if strings.HasSuffix(normalized, ".kubernetes.io") || strings.HasSuffix(normalized, ".k8s.io") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("options").Key(k), k, "kubernetes.io and k8s.io namespaces are reserved"))
		}
	}
	return allErrs
}

func validateFlocker(f *corev1.FlockerVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if f.DatasetName == "" && f.DatasetUUID == "" {
		allErrs = append(allErrs, field.Required(fldPath, "one of datasetName and datasetUUID is required"))
	}
	if f.DatasetName != "" && f.DatasetUUID != "" {
		allErrs = append(allErrs, field.Invalid(fldPath, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
	}
	if strings.Contains(f.DatasetName, "/") {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("datasetName"), f.DatasetName, "must not contain '/'"))
	}
	return allErrs
}

func validateFC(fc *corev1.FCVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(fc.TargetWWNs) == 0 && len(fc.WWIDs) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	}
	if len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	}
	if len(fc.TargetWWNs) != 0 {
		if fc.Lun == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("lun"), "lun is required if targetWWNs is specified"))
		} else if *fc.Lun < 0 || *fc.Lun > 255 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("lun"), fc.Lun, "must be between 0 and 255, inclusive"))
		}
	}
	return allErrs
}

func validateCSIDriverName(driver string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if driver == "" {
		allErrs = append(allErrs, field.Required(fldPath, ""))
	}
	if len(driver) > 63 {
		allErrs = append(allErrs, field.TooLong(fldPath, "", 63))
	}
	for _, msg := range nameIsDNSSubdomain(strings.ToLower(driver), false) {
		allErrs = append(allErrs, field.Invalid(fldPath, driver, msg))
	}
	return allErrs
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateSecretVolumeSource(s *corev1.SecretVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "secretName", s.SecretName)
	allErrs = append(allErrs, validateFileMode(s.DefaultMode, fldPath.Child("defaultMode"))...)
	for i := range s.Items {
		allErrs = append(allErrs, validateKeyToPath(&s.Items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateConfigMapVolumeSource(c *corev1.ConfigMapVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "name", c.Name)
	allErrs = append(allErrs, validateFileMode(c.DefaultMode, fldPath.Child("defaultMode"))...)
	for i := range c.Items {
		allErrs = append(allErrs, validateKeyToPath(&c.Items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "key", kp.Key, "path", kp.Path)
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	return append(allErrs, validateFileMode(kp.Mode, fldPath.Child("mode"))...)
}

// Field paths a downward API volume file may expose; env vars have their own list.
var volumeDownwardAPIFieldPaths = sets.New(
	"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations", "metadata.uid")

func validateDownwardAPIVolumeFile(file *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	allErrs := requireStrings(fldPath, "path", file.Path)
	allErrs = append(allErrs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
	switch {
	case file.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(file.FieldRef, volumeDownwardAPIFieldPaths, fldPath.Child("fieldRef"))...)
		if file.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case file.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateContainerResourceFieldSelector(file.ResourceFieldRef, fldPath.Child("resourceFieldRef"), true)...)
	default:
		allErrs = append(allErrs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(allErrs, validateFileMode(file.Mode, fldPath.Child("mode"))...)
}

func validateProjectedVolumeSource(proj *corev1.ProjectedVolumeSource, fldPath *field.Path, opts podOptions) field.ErrorList {
	allErrs := validateFileMode(proj.DefaultMode, fldPath.Child("defaultMode"))
	allPaths := sets.New[string]()
	// addPath reports two sources projecting the same file.
	addPath := func(p, value string) {
		if p == "" {
			return
		}
		if allPaths.Has(p) {
			allErrs = append(allErrs, field.Invalid(fldPath, value, "conflicting duplicate paths"))
		}
		allPaths.Insert(p)
	}
	for i, src := range proj.Sources {
		srcPath := fldPath.Child("sources").Index(i)
		n := 0
		if s := src.Secret; s != nil {
			n++
			p := srcPath.Child("secret")
			allErrs = append(allErrs, requireStrings(p, "name", s.Name)...)
			for j := range s.Items {
				allErrs = append(allErrs, validateKeyToPath(&s.Items[j], p.Child("items").Index(j))...)
				addPath(s.Items[j].Path, s.Name)
			}
		}
		if c := src.ConfigMap; c != nil {
			n++
			p := srcPath.Child("configMap")
			allErrs = append(allErrs, requireStrings(p, "name", c.Name)...)
			for j := range c.Items {
				allErrs = append(allErrs, validateKeyToPath(&c.Items[j], p.Child("items").Index(j))...)
				addPath(c.Items[j].Path, c.Name)
			}
		}
		if d := src.DownwardAPI; d != nil {
			n++
			p := srcPath.Child("downwardAPI")
			for j := range d.Items {
				allErrs = append(allErrs, validateDownwardAPIVolumeFile(&d.Items[j], p.Child("items").Index(j))...)
				addPath(d.Items[j].Path, d.Items[j].Path)
			}
		}
		if t := src.ServiceAccountToken; t != nil {
			n++
			p := srcPath.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil {
				if *t.ExpirationSeconds < 10*60 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *t.ExpirationSeconds > 1<<32 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if t.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(t.Path, p.Child("path"))...)
			}
			addPath(t.Path, t.Path)
		}
		if b := src.ClusterTrustBundle; b != nil {
			n++
			p := srcPath.Child("clusterTrustBundle")
			switch {
			case b.Name != nil && b.SignerName != nil:
				allErrs = append(allErrs, field.Invalid(p, b, "only one of name and signerName may be used"))
			case b.Name != nil:
				if *b.Name == "" {
					allErrs = append(allErrs, field.Required(p.Child("name"), "must be a valid object name"))
				}
				if b.LabelSelector != nil {
					allErrs = append(allErrs, field.Invalid(p.Child("labelSelector"), b.LabelSelector, "labelSelector must be unset if name is specified"))
				}
			case b.SignerName != nil:
				if *b.SignerName == "" {
					allErrs = append(allErrs, field.Required(p.Child("signerName"), "must be a valid signer name"))
				}
				allErrs = append(allErrs, metavalidation.ValidateLabelSelector(b.LabelSelector, strictSelector, p.Child("labelSelector"))...)
			default:
				allErrs = append(allErrs, field.Required(p, "either name or signerName must be specified"))
			}
			if b.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			}
			allErrs = append(allErrs, validateLocalNonReservedPath(b.Path, p.Child("path"))...)
			addPath(b.Path, b.Path)
		}
		if pc := src.PodCertificate; pc != nil {
			n++
			p := srcPath.Child("podCertificate")
			if pc.SignerName == "" {
				allErrs = append(allErrs, field.Required(p.Child("signerName"), ""))
			}
			for _, f := range []struct{ name, value string }{
				{"credentialBundlePath", pc.CredentialBundlePath}, {"keyPath", pc.KeyPath}, {"certificateChainPath", pc.CertificateChainPath},
			} {
				if f.value != "" {
					allErrs = append(allErrs, validateLocalNonReservedPath(f.value, p.Child(f.name))...)
					addPath(f.value, f.value)
				}
			}
		}
		if n > 1 {
			allErrs = append(allErrs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}

// validateLocalDescendingPath requires a relative path without ".." elements.
func validateLocalDescendingPath(p string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if path.IsAbs(p) {
		allErrs = append(allErrs, field.Invalid(fldPath, p, "must be a relative path"))
	}
	return append(allErrs, validatePathNoBacksteps(p, fldPath)...)
}

// validatePathNoBacksteps rejects ".." elements, which could escape the volume on the node.
func validatePathNoBacksteps(p string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(p), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, p, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalNonReservedPath also rejects names starting with "..", which the atomic writer of
// projected volumes reserves for its own bookkeeping.
func validateLocalNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	allErrs := validateLocalDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") {
		allErrs = append(allErrs, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return allErrs
}

// Env var downward API paths.
var envDownwardAPIFieldPaths = sets.New(
	"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")

// podFieldLabels are the pod fields the v1 downward API can name at all.
var podFieldLabels = sets.New(
	"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
	"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")

// splitSubscriptedPath splits "metadata.labels['key']" into its path and subscript.
func splitSubscriptedPath(fieldPath string) (string, string, bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	parts := strings.SplitN(strings.TrimSuffix(fieldPath, "']"), "['", 2)
	if len(parts) < 2 || parts[0] == "" {
		return fieldPath, "", false
	}
	return parts[0], parts[1], true
}

func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed sets.Set[string], fldPath *field.Path) field.ErrorList {
	if fs.APIVersion == "" {
		return field.ErrorList{field.Required(fldPath.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fldPath.Child("fieldPath"), "")}
	}
	if fs.APIVersion != "v1" {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: unsupported pod version: %s", fs.APIVersion))}
	}
	p, subscript, ok := splitSubscriptedPath(fs.FieldPath)
	if ok {
		switch p {
		case "metadata.annotations":
			return validateQualifiedName(strings.ToLower(subscript), fldPath)
		case "metadata.labels":
			return validateQualifiedName(subscript, fldPath)
		default:
			return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
				fmt.Sprintf("error converting fieldPath: field label does not support subscript: %s", fs.FieldPath))}
		}
	}
	if !podFieldLabels.Has(p) {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: field label not supported: %s", fs.FieldPath))}
	}
	if !allowed.Has(p) {
		return field.ErrorList{field.NotSupported(fldPath.Child("fieldPath"), p, sets.List(allowed))}
	}
	return nil
}

var containerResourceFieldPaths = sets.New(
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage")

var (
	cpuDivisors    = sets.New("1m", "1")
	memoryDivisors = sets.New("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
)

func validateContainerResourceFieldSelector(fs *corev1.ResourceFieldSelector, fldPath *field.Path, volume bool) field.ErrorList {
	var allErrs field.ErrorList
	hugePages := strings.HasPrefix(fs.Resource, "requests.hugepages-") || strings.HasPrefix(fs.Resource, "limits.hugepages-")
	switch {
	case volume && fs.ContainerName == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("containerName"), ""))
	case fs.Resource == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("resource"), ""))
	case !containerResourceFieldPaths.Has(fs.Resource) && !hugePages:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("resource"), fs.Resource, sets.List(containerResourceFieldPaths)))
	}
	if fs.Divisor.IsZero() {
		return allErrs
	}
	divisor := fs.Divisor.String()
	divPath := fldPath.Child("divisor")
	switch {
	case fs.Resource == "limits.cpu" || fs.Resource == "requests.cpu":
		if !cpuDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(divPath, fs.Resource, "only divisor's values 1m and 1 are supported with the cpu resource"))
		}
	case fs.Resource == "limits.memory" || fs.Resource == "requests.memory":
		if !memoryDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(divPath, fs.Resource, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"))
		}
	case fs.Resource == "limits.ephemeral-storage" || fs.Resource == "requests.ephemeral-storage":
		if !memoryDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(divPath, fs.Resource, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"))
		}
	case hugePages:
		if !memoryDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(divPath, fs.Resource, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource"))
		}
	}
	return allErrs
}

// ValidatePersistentVolumeClaimTemplate validates a claim template embedded in a pod (generic
// ephemeral volumes) or a StatefulSet: only labels and annotations may be set in its metadata.
func ValidatePersistentVolumeClaimTemplate(t *corev1.PersistentVolumeClaimTemplate, fldPath *field.Path) field.ErrorList {
	allErrs := validateTemplateObjectMeta(&t.ObjectMeta, fldPath.Child("metadata"))
	return append(allErrs, ValidatePersistentVolumeClaimSpec(&t.Spec, fldPath.Child("spec"))...)
}

// validateTemplateObjectMeta allows labels and annotations only; everything else in the metadata of
// an embedded template would be silently ignored, so it is refused instead.
func validateTemplateObjectMeta(meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := validateAnnotations(meta.Annotations, fldPath.Child("annotations"))
	allErrs = append(allErrs, metavalidation.ValidateLabels(meta.Labels, fldPath.Child("labels"))...)
	rest := meta.DeepCopy()
	rest.Labels, rest.Annotations = nil, nil
	checks := []struct {
		name string
		set  bool
	}{
		{"name", rest.Name != ""}, {"generateName", rest.GenerateName != ""}, {"namespace", rest.Namespace != ""},
		{"selfLink", rest.SelfLink != ""}, {"uid", rest.UID != ""}, {"resourceVersion", rest.ResourceVersion != ""},
		{"generation", rest.Generation != 0}, {"creationTimestamp", !rest.CreationTimestamp.IsZero()},
		{"deletionTimestamp", rest.DeletionTimestamp != nil}, {"deletionGracePeriodSeconds", rest.DeletionGracePeriodSeconds != nil},
		{"ownerReferences", len(rest.OwnerReferences) != 0}, {"finalizers", len(rest.Finalizers) != 0},
		{"managedFields", len(rest.ManagedFields) != 0},
	}
	for _, c := range checks {
		if c.set {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(c.name), "cannot be set"))
		}
	}
	return allErrs
}
