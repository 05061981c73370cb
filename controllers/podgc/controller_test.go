package podgc

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

func newPod(t *testing.T, c *ctrltest.Cluster, ns, name, node string, finalizers ...string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	created, err := c.Clientset.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return created
}

func waitGone(t *testing.T, c *ctrltest.Cluster, ns, name string) {
	t.Helper()
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("pod %s deleted", name), func(ctx context.Context) (bool, error) {
		_, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func TestPodGC(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), TerminatedPodThreshold: 2,
			Period: 200 * time.Millisecond, Quarantine: time.Second}).SetupWithManager(mgr)
	})
	ctx := context.Background()

	t.Run("force-deletes pods of a deleted node as Failed DisruptionTargets", func(t *testing.T) {
		ns := c.Namespace(t)
		c.AddNode(t, "doomed", nil)
		pod := newPod(t, c, ns, "orphan", "doomed")
		if err := c.SetPodRunning(pod, true); err != nil {
			t.Fatal(err)
		}
		w, err := c.Clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pod.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := c.Clientset.CoreV1().Nodes().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(30 * time.Second)
		for {
			select {
			case <-deadline:
				t.Fatal("orphaned pod not deleted within 30s")
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatal("watch closed")
				}
				if ev.Type != watch.Deleted {
					continue
				}
				last := ev.Object.(*corev1.Pod)
				if last.Status.Phase != corev1.PodFailed {
					t.Errorf("deleted pod's phase %s, want Failed", last.Status.Phase)
				}
				var found bool
				for _, cond := range last.Status.Conditions {
					if cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue &&
						cond.Reason == "DeletionByPodGC" && cond.Message == "PodGC: node no longer exists" {
						found = true
					}
				}
				if !found {
					t.Errorf("deleted pod's conditions %+v lack DisruptionTarget/DeletionByPodGC", last.Status.Conditions)
				}
				return
			}
		}
	})

	t.Run("keeps pods of existing nodes", func(t *testing.T) {
		ns := c.Namespace(t)
		c.AddNode(t, "alive", nil)
		newPod(t, c, ns, "kept", "alive")
		// An orphan made after it, whose deletion shows passes have run.
		newPod(t, c, ns, "witness", "never-existed")
		waitGone(t, c, ns, "witness")
		if _, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "kept", metav1.GetOptions{}); err != nil {
			t.Fatalf("pod on a live node: %v", err)
		}
	})

	t.Run("deletes the oldest terminated pods beyond the threshold", func(t *testing.T) {
		ns := c.Namespace(t)
		c.AddNode(t, "worker", nil)
		var names []string
		for i := range 4 {
			name := fmt.Sprintf("done-%d", i)
			if err := c.SetPodFinished(newPod(t, c, ns, name, "worker"), 0); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		// Other tests' namespaces hold no terminated pods, so the threshold of 2 applies here alone.
		waitGone(t, c, ns, names[0])
		waitGone(t, c, ns, names[1])
		for _, name := range names[2:] {
			if _, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("newer terminated pod %s: %v", name, err)
			}
		}
		for _, name := range names[2:] {
			if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("force-deletes terminating pods on an out-of-service NotReady node", func(t *testing.T) {
		ns := c.Namespace(t)
		node := c.AddNode(t, "shut-down", nil)
		pod := newPod(t, c, ns, "stuck", "shut-down")
		if err := c.SetPodRunning(pod, true); err != nil {
			t.Fatal(err)
		}
		// Graceful deletion: with no agent, the pod would stay terminating for ever.
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, "stuck", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		node.Status.Conditions[0].Status = corev1.ConditionFalse
		node, err := c.Clientset.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute})
		if _, err := c.Clientset.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, ns, "stuck")
	})

	t.Run("marks unscheduled terminating pods Failed and deletes them", func(t *testing.T) {
		ns := c.Namespace(t)
		// The finalizer keeps the pod visible after the force deletion, to see it was marked Failed.
		newPod(t, c, ns, "unscheduled", "", "skiff.dev/test")
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, "unscheduled", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, 30*time.Second, "unscheduled terminating pod Failed", func(ctx context.Context) (bool, error) {
			p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "unscheduled", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return p.Status.Phase == corev1.PodFailed, nil
		})
		p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "unscheduled", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Finalizers = nil
		if _, err := c.Clientset.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, ns, "unscheduled")
	})
}
