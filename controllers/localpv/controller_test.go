package localpv

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
	"k8s.io/apimachinery/pkg/types"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/controllers/persistentvolume"
	"github.com/skiffhq/skiff/internal/storageclass"
)

const timeout = 30 * time.Second

// start runs the provisioner with the binder, as skiff server does.
func start(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t,
		func(mgr manager.Manager) error {
			return (&persistentvolume.Reconciler{Client: mgr.GetClient(),
				Recorder: mgr.GetEventRecorderFor("persistentvolume-controller")}).SetupWithManager(mgr)
		},
		func(mgr manager.Manager) error {
			return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor(ProvisionerName)}).SetupWithManager(mgr)
		})
}

func newClaim(t *testing.T, c *ctrltest.Cluster, ns, name string, class *string) *corev1.PersistentVolumeClaim {
	t.Helper()
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}
	created, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), claim, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim: %v", err)
	}
	return created
}

// selectNode does the scheduler's part: it records the node chosen for the claim's first consumer.
func selectNode(t *testing.T, c *ctrltest.Cluster, ns, name, node string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, storagehelpers.AnnSelectedNode, node)
	if _, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Patch(context.Background(), name, types.MergePatchType,
		[]byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("select node: %v", err)
	}
}

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

// waitBound waits until the claim is Bound and returns it with its volume.
func waitBound(t *testing.T, c *ctrltest.Cluster, ns, name string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	t.Helper()
	var claim *corev1.PersistentVolumeClaim
	var volume *corev1.PersistentVolume
	ctrltest.Eventually(t, timeout, fmt.Sprintf("claim %s bound", name), func(ctx context.Context) (bool, error) {
		var err error
		if claim, err = c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if claim.Status.Phase != corev1.ClaimBound {
			return false, fmt.Errorf("claim %s", claim.Status.Phase)
		}
		if volume, err = c.Clientset.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if volume.Status.Phase != corev1.VolumeBound {
			return false, fmt.Errorf("volume %s", volume.Status.Phase)
		}
		return true, nil
	})
	return claim, volume
}

func TestLocalPath(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	c.AddNode(t, "node-1", nil)
	custom := c.AddNode(t, "node-2", nil)
	custom.Annotations = map[string]string{DataDirAnnotation: "/srv/skiff"}
	if _, err := c.Clientset.CoreV1().Nodes().Update(ctx, custom, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Claims below are created once the class is: they get it as the default.
	var class *storagev1.StorageClass
	ctrltest.Eventually(t, timeout, "local-path class", func(ctx context.Context) (bool, error) {
		var err error
		class, err = c.Clientset.StorageV1().StorageClasses().Get(ctx, StorageClassName, metav1.GetOptions{})
		return err == nil, err
	})

	t.Run("the local-path class is created as the default", func(t *testing.T) {
		if !storageclass.IsDefault(class) || class.Provisioner != ProvisionerName ||
			ptr.Deref(class.VolumeBindingMode, "") != storagev1.VolumeBindingWaitForFirstConsumer ||
			ptr.Deref(class.ReclaimPolicy, "") != corev1.PersistentVolumeReclaimDelete {
			t.Errorf("class %+v", class)
		}
	})

	t.Run("a claim waits for its first consumer, then gets a volume on the chosen node", func(t *testing.T) {
		ns := c.Namespace(t)
		claim := newClaim(t, c, ns, "data", nil)
		if ptr.Deref(claim.Spec.StorageClassName, "") != StorageClassName {
			t.Fatalf("a claim without class got %v, want the default %s", claim.Spec.StorageClassName, StorageClassName)
		}
		if msg := waitEvent(t, c, ns, "data", "WaitForFirstConsumer"); msg != "waiting for first consumer to be created before binding" {
			t.Errorf("event %q", msg)
		}
		if _, err := c.Clientset.CoreV1().PersistentVolumes().Get(ctx, "pvc-"+string(claim.UID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a volume exists before a node was chosen: %v", err)
		}
		if got, _ := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{}); got.Status.Phase != corev1.ClaimPending {
			t.Fatalf("claim %s before its node is chosen", got.Status.Phase)
		}

		selectNode(t, c, ns, "data", "node-1")
		bound, volume := waitBound(t, c, ns, "data")
		if volume.Name != "pvc-"+string(claim.UID) {
			t.Errorf("volume %s, want pvc-<claim uid>", volume.Name)
		}
		if want := "/var/lib/skiff/agent/storage/pvc-" + string(claim.UID) + "_" + ns + "_data"; volume.Spec.HostPath == nil || volume.Spec.HostPath.Path != want {
			t.Errorf("host path %+v, want %s", volume.Spec.HostPath, want)
		}
		req := volume.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
		if req.Key != corev1.LabelHostname || req.Operator != corev1.NodeSelectorOpIn || len(req.Values) != 1 || req.Values[0] != "node-1" {
			t.Errorf("node affinity %+v", req)
		}
		if volume.Annotations[storagehelpers.AnnDynamicallyProvisioned] != ProvisionerName ||
			volume.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || volume.Spec.StorageClassName != StorageClassName {
			t.Errorf("volume %+v %v", volume.Spec, volume.Annotations)
		}
		if got := bound.Status.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" {
			t.Errorf("claim capacity %s", got.String())
		}
		if bound.Annotations[storagehelpers.AnnStorageProvisioner] != ProvisionerName {
			t.Errorf("claim annotations %v", bound.Annotations)
		}
		if msg := waitEvent(t, c, ns, "data", "ProvisioningSucceeded"); msg != "Successfully provisioned volume "+volume.Name {
			t.Errorf("event %q", msg)
		}

		t.Run("deleting the claim deletes the volume", func(t *testing.T) {
			if err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			ctrltest.Eventually(t, timeout, "volume deleted", func(ctx context.Context) (bool, error) {
				_, err := c.Clientset.CoreV1().PersistentVolumes().Get(ctx, volume.Name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return true, nil
				}
				return false, err
			})
		})
	})

	t.Run("a node's data dir annotation places its volumes", func(t *testing.T) {
		ns := c.Namespace(t)
		claim := newClaim(t, c, ns, "data", nil)
		selectNode(t, c, ns, "data", "node-2")
		_, volume := waitBound(t, c, ns, "data")
		if want := "/srv/skiff/storage/pvc-" + string(claim.UID) + "_" + ns + "_data"; volume.Spec.HostPath.Path != want {
			t.Errorf("host path %s, want %s", volume.Spec.HostPath.Path, want)
		}
	})

	t.Run("a Retain class keeps the volume Released", func(t *testing.T) {
		ns := c.Namespace(t)
		retain := DefaultStorageClass(false)
		retain.Name = "local-path-retain"
		retain.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
		if _, err := c.Clientset.StorageV1().StorageClasses().Create(ctx, retain, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		newClaim(t, c, ns, "data", ptr.To(retain.Name))
		selectNode(t, c, ns, "data", "node-1")
		_, volume := waitBound(t, c, ns, "data")
		if err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "volume Released", func(ctx context.Context) (bool, error) {
			v, err := c.Clientset.CoreV1().PersistentVolumes().Get(ctx, volume.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return v.Status.Phase == corev1.VolumeReleased, nil
		})
		// Stays: the provisioner leaves retained volumes alone. A create-and-bind of another claim
		// through the same controllers shows they have processed the release.
		newClaim(t, c, ns, "other", ptr.To(retain.Name))
		selectNode(t, c, ns, "other", "node-1")
		waitBound(t, c, ns, "other")
		if v, err := c.Clientset.CoreV1().PersistentVolumes().Get(ctx, volume.Name, metav1.GetOptions{}); err != nil || v.Status.Phase != corev1.VolumeReleased {
			t.Errorf("retained volume: %v, %v", v.Status.Phase, err)
		}
	})

	t.Run("a pod waiting to be scheduled is named in the claim's event", func(t *testing.T) {
		ns := c.Namespace(t)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: ns}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}},
		}}
		if _, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		newClaim(t, c, ns, "data-web-0", nil)
		if msg := waitEvent(t, c, ns, "data-web-0", "WaitForPodScheduled"); msg != "waiting for pod web-0 to be scheduled" {
			t.Errorf("event %q", msg)
		}
	})

	t.Run("a claim whose chosen node does not exist goes back to the scheduler", func(t *testing.T) {
		ns := c.Namespace(t)
		newClaim(t, c, ns, "data", nil)
		selectNode(t, c, ns, "data", "gone")
		msg := waitEvent(t, c, ns, "data", "ProvisioningFailed")
		if want := `node "gone" not found`; msg != want {
			t.Errorf("event %q, want %q", msg, want)
		}
		ctrltest.Eventually(t, timeout, "selected node removed", func(ctx context.Context) (bool, error) {
			claim, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, selected := claim.Annotations[storagehelpers.AnnSelectedNode]
			return !selected, nil
		})
	})
}
