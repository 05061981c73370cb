package persistentvolume

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/internal/storageclass"
)

const timeout = 30 * time.Second

func start(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("persistentvolume-controller")}).SetupWithManager(mgr)
	})
}

// newVolume creates a static hostPath volume with a unique name and waits until it is Available:
// once the controller has seen it, a claim created after cannot miss it.
func newVolume(t *testing.T, c *ctrltest.Cluster, size, class string, policy corev1.PersistentVolumeReclaimPolicy,
	modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	t.Helper()
	return waitVolumePhase(t, c, createVolume(t, c, size, class, policy, modes...).Name, corev1.VolumeAvailable)
}

// createVolume creates a static hostPath volume with a unique name, deleted when t ends.
func createVolume(t *testing.T, c *ctrltest.Cluster, size, class string, policy corev1.PersistentVolumeReclaimPolicy,
	modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	t.Helper()
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "pv-"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   modes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
		},
	}
	created, err := c.Clientset.CoreV1().PersistentVolumes().Create(context.Background(), v, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create volume: %v", err)
	}
	t.Cleanup(func() {
		c.Clientset.CoreV1().PersistentVolumes().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	return created
}

func newClaim(t *testing.T, c *ctrltest.Cluster, ns, name, size string, class *string, change ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	t.Helper()
	claim := pvc(name, size, class, rwo)
	claim.Namespace, claim.UID, claim.ResourceVersion = ns, "", ""
	for _, f := range change {
		f(claim)
	}
	created, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), claim, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim: %v", err)
	}
	return created
}

// waitBound waits until claim and volume are bound to each other, and returns both.
func waitBound(t *testing.T, c *ctrltest.Cluster, ns, claimName, volumeName string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	t.Helper()
	var claim *corev1.PersistentVolumeClaim
	var volume *corev1.PersistentVolume
	ctrltest.Eventually(t, timeout, fmt.Sprintf("claim %s bound to %s", claimName, volumeName), func(ctx context.Context) (bool, error) {
		var err error
		if claim, err = c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claimName, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if volume, err = c.Clientset.CoreV1().PersistentVolumes().Get(ctx, volumeName, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if claim.Status.Phase != corev1.ClaimBound || volume.Status.Phase != corev1.VolumeBound {
			return false, fmt.Errorf("claim %s (volume %q), volume %s", claim.Status.Phase, claim.Spec.VolumeName, volume.Status.Phase)
		}
		return true, nil
	})
	if claim.Spec.VolumeName != volumeName || volume.Spec.ClaimRef == nil || volume.Spec.ClaimRef.UID != claim.UID ||
		volume.Spec.ClaimRef.Name != claimName || volume.Spec.ClaimRef.Namespace != ns {
		t.Fatalf("not bound to each other: claim.volumeName %q, volume.claimRef %+v", claim.Spec.VolumeName, volume.Spec.ClaimRef)
	}
	if claim.Annotations[storagehelpers.AnnBindCompleted] != "yes" {
		t.Errorf("claim annotations %v: want bind-completed", claim.Annotations)
	}
	return claim, volume
}

func waitVolumePhase(t *testing.T, c *ctrltest.Cluster, name string, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	t.Helper()
	var volume *corev1.PersistentVolume
	ctrltest.Eventually(t, timeout, fmt.Sprintf("volume %s %s", name, phase), func(ctx context.Context) (bool, error) {
		var err error
		volume, err = c.Clientset.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if volume.Status.Phase != phase {
			return false, fmt.Errorf("phase %s", volume.Status.Phase)
		}
		return true, nil
	})
	return volume
}

// waitEvent waits for an event of reason about the named object in ns and returns its message.
func waitEvent(t *testing.T, c *ctrltest.Cluster, ns, name, reason string) string {
	t.Helper()
	var message string
	ctrltest.Eventually(t, timeout, fmt.Sprintf("event %s on %s", reason, name), func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == name && e.Reason == reason {
				message = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	return message
}

func deleteClaim(t *testing.T, c *ctrltest.Cluster, ns, name string) {
	t.Helper()
	if err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete claim: %v", err)
	}
}

func TestBinding(t *testing.T) {
	c := start(t)
	ctx := context.Background()

	t.Run("a claim binds to the smallest matching static volume", func(t *testing.T) {
		ns := c.Namespace(t)
		newVolume(t, c, "1Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo, rox)
		newVolume(t, c, "10Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo, rox)
		newVolume(t, c, "3Gi", ns, corev1.PersistentVolumeReclaimRetain, rwx)
		newVolume(t, c, "4Gi", "other-"+ns, corev1.PersistentVolumeReclaimRetain, rwo, rox)
		fit := newVolume(t, c, "5Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo, rox)
		newClaim(t, c, ns, "data", "2Gi", ptr.To(ns), func(claim *corev1.PersistentVolumeClaim) {
			claim.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{rox}
		})
		claim, volume := waitBound(t, c, ns, "data", fit.Name)
		if claim.Annotations[storagehelpers.AnnBoundByController] != "yes" || volume.Annotations[storagehelpers.AnnBoundByController] != "yes" {
			t.Errorf("bound-by-controller missing: claim %v, volume %v", claim.Annotations, volume.Annotations)
		}
		if got := claim.Status.Capacity[corev1.ResourceStorage]; got.String() != "5Gi" {
			t.Errorf("claim status capacity %s, want the volume's 5Gi", got.String())
		}
		if len(claim.Status.AccessModes) != 2 {
			t.Errorf("claim status access modes %v, want the volume's", claim.Status.AccessModes)
		}
		if volume.Status.LastPhaseTransitionTime == nil {
			t.Error("the volume's phase transition time is not set")
		}
	})

	t.Run("a claim of an Immediate class binds to a volume of that class", func(t *testing.T) {
		ns := c.Namespace(t)
		createClass(t, c, ns, "example.com/none", storagev1.VolumeBindingImmediate, false)
		newVolume(t, c, "2Gi", "other-"+ns, corev1.PersistentVolumeReclaimRetain, rwo)
		classed := newVolume(t, c, "4Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo)
		newClaim(t, c, ns, "data", "2Gi", ptr.To(ns))
		waitBound(t, c, ns, "data", classed.Name)
	})

	t.Run("a claim waits until a volume appears, then binds", func(t *testing.T) {
		ns := c.Namespace(t)
		newClaim(t, c, ns, "data", "7Gi", ptr.To(""))
		msg := waitEvent(t, c, ns, "data", "FailedBinding")
		if msg != "no persistent volumes available for this claim and no storage class is set" {
			t.Errorf("event message %q", msg)
		}
		volume := createVolume(t, c, "7Gi", "", corev1.PersistentVolumeReclaimRetain, rwo)
		waitBound(t, c, ns, "data", volume.Name)
	})

	t.Run("a claim naming its volume binds to it, not to a better one", func(t *testing.T) {
		ns := c.Namespace(t)
		named := newVolume(t, c, "20Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo)
		newVolume(t, c, "2Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo)
		newClaim(t, c, ns, "data", "2Gi", ptr.To(ns), func(claim *corev1.PersistentVolumeClaim) { claim.Spec.VolumeName = named.Name })
		claim, volume := waitBound(t, c, ns, "data", named.Name)
		if metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController) {
			t.Error("a claim the user bound is marked bound-by-controller")
		}
		if volume.Annotations[storagehelpers.AnnBoundByController] != "yes" {
			t.Error("the volume the controller bound to the claim is not marked bound-by-controller")
		}
	})

	t.Run("a Retain volume stays Released when its claim is deleted", func(t *testing.T) {
		ns := c.Namespace(t)
		volume := newVolume(t, c, "11Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo)
		newClaim(t, c, ns, "data", "11Gi", ptr.To(ns))
		waitBound(t, c, ns, "data", volume.Name)
		deleteClaim(t, c, ns, "data")
		released := waitVolumePhase(t, c, volume.Name, corev1.VolumeReleased)
		if released.Spec.ClaimRef == nil {
			t.Error("a released volume forgets its claim")
		}

		// A new claim of the same name does not get the old claim's data.
		newClaim(t, c, ns, "data", "11Gi", ptr.To(ns))
		waitEvent(t, c, ns, "data", "ProvisioningFailed")
		if v, err := c.Clientset.CoreV1().PersistentVolumes().Get(ctx, volume.Name, metav1.GetOptions{}); err != nil || v.Status.Phase != corev1.VolumeReleased {
			t.Errorf("released volume: %v, %v", v.Status.Phase, err)
		}
	})

	t.Run("a static Delete volume Fails when its claim is deleted", func(t *testing.T) {
		ns := c.Namespace(t)
		volume := newVolume(t, c, "12Gi", ns, corev1.PersistentVolumeReclaimDelete, rwo)
		newClaim(t, c, ns, "data", "12Gi", ptr.To(ns))
		waitBound(t, c, ns, "data", volume.Name)
		deleteClaim(t, c, ns, "data")
		failed := waitVolumePhase(t, c, volume.Name, corev1.VolumeFailed)
		want := fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", volume.Name)
		if failed.Status.Message != want {
			t.Errorf("message %q, want %q", failed.Status.Message, want)
		}
		if msg := waitEvent(t, c, metav1.NamespaceDefault, volume.Name, "VolumeFailedDelete"); msg != want {
			t.Errorf("event %q", msg)
		}
	})

	t.Run("a claim of an external provisioner's class is handed to it", func(t *testing.T) {
		ns := c.Namespace(t)
		createClass(t, c, ns, "example.com/nfs", storagev1.VolumeBindingImmediate, false)
		newClaim(t, c, ns, "data", "1Gi", ptr.To(ns))
		msg := waitEvent(t, c, ns, "data", "ExternalProvisioning")
		if want := "Waiting for a volume to be created either by the external provisioner 'example.com/nfs' or manually by the system administrator. " +
			"If volume creation is delayed, please verify that the provisioner is running and correctly registered."; msg != want {
			t.Errorf("event %q", msg)
		}
		claim, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if claim.Annotations[storagehelpers.AnnStorageProvisioner] != "example.com/nfs" ||
			claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] != "example.com/nfs" {
			t.Errorf("annotations %v", claim.Annotations)
		}

		// The provisioner's volume, pre-bound to the claim, is bound.
		provisioned := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(claim.UID),
				Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: "example.com/nfs"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{rwo},
				StorageClassName:              ns,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example.com", Path: "/x"}},
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data", UID: claim.UID},
			},
		}
		if _, err := c.Clientset.CoreV1().PersistentVolumes().Create(ctx, provisioned, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitBound(t, c, ns, "data", provisioned.Name)

		// Released for its provisioner to delete: the binder does not delete it.
		deleteClaim(t, c, ns, "data")
		waitVolumePhase(t, c, provisioned.Name, corev1.VolumeReleased)
		if err := c.Clientset.CoreV1().PersistentVolumes().Delete(ctx, provisioned.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a claim created before any default class gets it when one appears", func(t *testing.T) {
		ns := c.Namespace(t)
		newClaim(t, c, ns, "data", "1Gi", nil)
		waitEvent(t, c, ns, "data", "FailedBinding")
		createClass(t, c, "standard", "example.com/std", storagev1.VolumeBindingImmediate, true)
		ctrltest.Eventually(t, timeout, "default class assigned", func(ctx context.Context) (bool, error) {
			claim, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return ptr.Deref(claim.Spec.StorageClassName, "") == "standard", nil
		})
		waitEvent(t, c, ns, "data", "ExternalProvisioning")
		if err := c.Clientset.StorageV1().StorageClasses().Delete(ctx, "standard", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a bound claim whose volume is deleted is Lost", func(t *testing.T) {
		ns := c.Namespace(t)
		volume := newVolume(t, c, "13Gi", ns, corev1.PersistentVolumeReclaimRetain, rwo)
		newClaim(t, c, ns, "data", "13Gi", ptr.To(ns))
		waitBound(t, c, ns, "data", volume.Name)
		if err := c.Clientset.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "claim Lost", func(ctx context.Context) (bool, error) {
			claim, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return claim.Status.Phase == corev1.ClaimLost && claim.Status.Capacity == nil, nil
		})
		if msg := waitEvent(t, c, ns, "data", "ClaimLost"); msg != "Bound claim has lost its PersistentVolume. Data on the volume is lost!" {
			t.Errorf("event %q", msg)
		}
	})
}

func createClass(t *testing.T, c *ctrltest.Cluster, name, provisioner string, mode storagev1.VolumeBindingMode, isDefault bool) {
	t.Helper()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
	if isDefault {
		class.Annotations = map[string]string{storageclass.IsDefaultAnnotation: "true"}
	}
	_, err := c.Clientset.StorageV1().StorageClasses().Create(context.Background(), class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create class %s: %v", name, err)
	}
}
