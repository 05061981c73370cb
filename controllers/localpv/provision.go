package localpv

import (
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/internal/storageclass"
)

// DefaultStorageClass is the StorageClass of this provisioner that skiff creates at start: the
// cluster's default unless another class already is, WaitForFirstConsumer (a volume lives on the
// node its first pod is scheduled to), reclaim policy Delete.
func DefaultStorageClass(isDefault bool) *storagev1.StorageClass {
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: StorageClassName},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if isDefault {
		class.Annotations = map[string]string{storageclass.IsDefaultAnnotation: "true"}
	}
	return class
}

// volumeName is the name of the volume provisioned for a claim: one per claim, so that a
// provisioning repeated (the cache lagging behind a create) finds the volume it made.
func volumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// shouldProvision says whether this provisioner is to make a volume for claim of class now: the
// claim is unbound, alive, handed to this provisioner by the binder, its class is this
// provisioner's, and, for a WaitForFirstConsumer class, the scheduler has chosen its node.
func shouldProvision(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) bool {
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil || class == nil || class.Provisioner != ProvisionerName {
		return false
	}
	provisioner, ok := claim.Annotations[storagehelpers.AnnStorageProvisioner]
	if !ok {
		provisioner = claim.Annotations[storagehelpers.AnnBetaStorageProvisioner]
	}
	if provisioner != ProvisionerName {
		return false
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		return claim.Annotations[storagehelpers.AnnSelectedNode] != ""
	}
	return true
}

// selectedNode is the node the scheduler chose for a claim's volume, "" if none (Immediate binding).
func selectedNode(claim *corev1.PersistentVolumeClaim) string {
	return claim.Annotations[storagehelpers.AnnSelectedNode]
}

// dataDir is a node's data dir: its skiff.dev/data-dir annotation, which its agent sets, or the
// agent's default.
func dataDir(node *corev1.Node, defaultDataDir string) (string, error) {
	dir, ok := node.Annotations[DataDirAnnotation]
	if !ok || dir == "" {
		return defaultDataDir, nil
	}
	if !path.IsAbs(dir) {
		return "", fmt.Errorf("node %s: annotation %s=%q is not an absolute path", node.Name, DataDirAnnotation, dir)
	}
	return path.Clean(dir), nil
}

// VolumePath is the directory of the volume named volume for claim ns/name on a node whose data
// dir is dataDir: the convention the node agent honours when it mounts the volume.
func VolumePath(dataDir, volume, namespace, name string) string {
	return path.Join(dataDir, "storage", fmt.Sprintf("%s_%s_%s", volume, namespace, name))
}

// volumeFor is the volume provisioned for claim of class on node: a hostPath directory under the
// node's data dir (created by the node agent on mount: DirectoryOrCreate), bound to that node by
// required node affinity, of the claim's requested size, access modes and volume mode, with the
// class's reclaim policy and mount options, pre-bound to the claim for the binder to complete.
func volumeFor(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node, defaultDataDir string) (*corev1.PersistentVolume, error) {
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, fmt.Errorf("volumeMode %s is not supported, only %s", corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)
	}
	for _, mode := range claim.Spec.AccessModes {
		if mode != corev1.ReadWriteOnce && mode != corev1.ReadWriteOncePod {
			return nil, fmt.Errorf("access mode %s is not supported: a local volume serves one node (%s or %s)",
				mode, corev1.ReadWriteOnce, corev1.ReadWriteOncePod)
		}
	}
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("the claim requests no storage")
	}
	dir, err := dataDir(node, defaultDataDir)
	if err != nil {
		return nil, err
	}
	hostname := node.Labels[corev1.LabelHostname]
	if hostname == "" {
		hostname = node.Name
	}
	reclaimPolicy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaimPolicy = *class.ReclaimPolicy
	}
	name := volumeName(claim)
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: ProvisionerName},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaimPolicy,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: VolumePath(dir, name, claim.Namespace, claim.Name),
				Type: ptr.To(corev1.HostPathDirectoryOrCreate),
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname},
				}},
			}}}},
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion,
			},
		},
	}, nil
}

// shouldDelete says whether a volume is this provisioner's to delete: it made it, its claim is gone
// (Released) and its reclaim policy is Delete.
func shouldDelete(volume *corev1.PersistentVolume) bool {
	return volume.DeletionTimestamp == nil &&
		volume.Status.Phase == corev1.VolumeReleased &&
		volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete &&
		volume.Annotations[storagehelpers.AnnDynamicallyProvisioned] == ProvisionerName
}
