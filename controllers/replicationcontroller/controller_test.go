package replicationcontroller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/controllers/replicaset"
	"github.com/skiffhq/skiff/controllers/replicationcontroller"
)

const timeout = 30 * time.Second

func podsOf(ctx context.Context, c *ctrltest.Cluster, ns, app string) ([]corev1.Pod, error) {
	list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// TestReplicationControllerKeepsItsReplicas runs the ReplicationController reconciler beside the
// ReplicaSet one, as the manager does: each manages its own kind's pods with the shared code.
func TestReplicationControllerKeepsItsReplicas(t *testing.T) {
	c := ctrltest.Start(t,
		func(mgr manager.Manager) error {
			return (&replicationcontroller.Reconciler{Client: mgr.GetClient(),
				Recorder: mgr.GetEventRecorderFor("replication-controller")}).SetupWithManager(mgr)
		},
		func(mgr manager.Manager) error {
			return (&replicaset.Reconciler{Client: mgr.GetClient(),
				Recorder: mgr.GetEventRecorderFor("replicaset-controller")}).SetupWithManager(mgr)
		})
	ctx := context.Background()
	ns := c.Namespace(t)

	orphan, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stray", Labels: map[string]string{"app": "legacy"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Clientset.CoreV1().ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(int32(3)),
			Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A ReplicaSet beside it must neither touch its pods nor be touched.
	_, err = c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "modern"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "modern"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "modern"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("creates pods controlled by the ReplicationController and adopts the orphan", func(t *testing.T) {
		var pods []corev1.Pod
		ctrltest.Eventually(t, timeout, "3 pods", func(ctx context.Context) (bool, error) {
			pods, err = podsOf(ctx, c, ns, "legacy")
			return len(pods) == 3, err
		})
		ctrltest.Eventually(t, timeout, "all 3 controlled", func(ctx context.Context) (bool, error) {
			pods, err = podsOf(ctx, c, ns, "legacy")
			for _, p := range pods {
				ref := metav1.GetControllerOf(&p)
				if ref == nil || ref.UID != rc.UID || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" ||
					!ptr.Deref(ref.BlockOwnerDeletion, false) {
					return false, nil
				}
			}
			return true, err
		})
		var adopted bool
		for _, p := range pods {
			adopted = adopted || p.Name == orphan.Name
		}
		if !adopted {
			t.Errorf("orphan %s not among the pods", orphan.Name)
		}
		ctrltest.Eventually(t, timeout, "SuccessfulCreate events on the ReplicationController", func(ctx context.Context) (bool, error) {
			events, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			var n int
			for _, e := range events.Items {
				if e.InvolvedObject.Kind == "ReplicationController" && e.Reason == "SuccessfulCreate" &&
					strings.HasPrefix(e.Message, "Created pod: legacy-") {
					n++
				}
			}
			return n == 2, err
		})
	})

	t.Run("reports ready and available replicas", func(t *testing.T) {
		c.MarkPodsReady(t, ns, labels.SelectorFromSet(labels.Set{"app": "legacy"}))
		ctrltest.Eventually(t, timeout, "status of 3 available", func(ctx context.Context) (bool, error) {
			rc, err := c.Clientset.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
			return err == nil && rc.Status.Replicas == 3 && rc.Status.FullyLabeledReplicas == 3 &&
				rc.Status.ReadyReplicas == 3 && rc.Status.AvailableReplicas == 3 &&
				rc.Status.ObservedGeneration == rc.Generation, err
		})
	})

	t.Run("scales down", func(t *testing.T) {
		patch := []byte(`{"spec":{"replicas":1}}`)
		if _, err := c.Clientset.CoreV1().ReplicationControllers(ns).Patch(ctx, "legacy", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "1 pod", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "legacy")
			return len(pods) == 1, err
		})
		ctrltest.Eventually(t, timeout, "status of 1", func(ctx context.Context) (bool, error) {
			rc, err := c.Clientset.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
			return err == nil && rc.Status.Replicas == 1 && rc.Status.ObservedGeneration == rc.Generation, err
		})
	})

	t.Run("the ReplicaSet beside it keeps its own pods", func(t *testing.T) {
		ctrltest.Eventually(t, timeout, "2 pods of the ReplicaSet", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "modern")
			if err != nil || len(pods) != 2 {
				return false, err
			}
			for _, p := range pods {
				if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "ReplicaSet" {
					return false, fmt.Errorf("pod %s controlled by %+v", p.Name, ref)
				}
			}
			return true, nil
		})
	})
}
