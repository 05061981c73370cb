package replicaset_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/controllers/replicaset"
)

const timeout = 30 * time.Second

func start(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&replicaset.Reconciler{Client: mgr.GetClient(),
			Recorder: mgr.GetEventRecorderFor("replicaset-controller")}).SetupWithManager(mgr)
	})
}

func newReplicaSet(ns, name string, replicas int32, app string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

// activePods lists the pods of ns that match app and are not being deleted.
func activePods(ctx context.Context, c *ctrltest.Cluster, ns, app string) ([]corev1.Pod, error) {
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

func waitForPods(t *testing.T, c *ctrltest.Cluster, ns, app string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	ctrltest.Eventually(t, timeout, fmt.Sprintf("%d pods of %s", n, app), func(ctx context.Context) (bool, error) {
		var err error
		pods, err = activePods(ctx, c, ns, app)
		return len(pods) == n, err
	})
	return pods
}

func waitForStatus(t *testing.T, c *ctrltest.Cluster, ns, name string, what string, cond func(*appsv1.ReplicaSet) bool) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	ctrltest.Eventually(t, timeout, what, func(ctx context.Context) (bool, error) {
		var err error
		rs, err = c.Clientset.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(rs), err
	})
	return rs
}

func setReplicas(t *testing.T, c *ctrltest.Cluster, ns, name string, n int32) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale %s to %d: %v", name, n, err)
	}
}

// eventMessages are the messages of the events of reason about object name.
func eventMessages(ctx context.Context, c *ctrltest.Cluster, ns, name, reason string) ([]string, error) {
	list, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var msgs []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			msgs = append(msgs, e.Message)
		}
	}
	return msgs, nil
}

func TestReplicaSetKeepsItsReplicas(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	rs, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet(ns, "web", 3, "web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("creates pods from the template, owned by the ReplicaSet", func(t *testing.T) {
		pods := waitForPods(t, c, ns, "web", 3)
		for _, p := range pods {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" ||
				!ptr.Deref(ref.BlockOwnerDeletion, false) {
				t.Errorf("pod %s: controller reference %+v", p.Name, ref)
			}
			if p.GenerateName != "web-" || !strings.HasPrefix(p.Name, "web-") || p.Labels["tier"] != "web" {
				t.Errorf("pod %s: generateName %q labels %v", p.Name, p.GenerateName, p.Labels)
			}
		}
		ctrltest.Eventually(t, timeout, "SuccessfulCreate events", func(ctx context.Context) (bool, error) {
			msgs, err := eventMessages(ctx, c, ns, "web", "SuccessfulCreate")
			return len(msgs) == 3 && strings.HasPrefix(msgs[0], "Created pod: web-"), err
		})
	})

	t.Run("counts ready and available pods in the status", func(t *testing.T) {
		waitForStatus(t, c, ns, "web", "replicas 3, none ready", func(rs *appsv1.ReplicaSet) bool {
			return rs.Status.Replicas == 3 && rs.Status.FullyLabeledReplicas == 3 && rs.Status.ReadyReplicas == 0 &&
				rs.Status.ObservedGeneration == rs.Generation && ptr.Deref(rs.Status.TerminatingReplicas, -1) == 0
		})
		c.MarkPodsReady(t, ns, labels.SelectorFromSet(labels.Set{"app": "web"}))
		waitForStatus(t, c, ns, "web", "3 ready and available", func(rs *appsv1.ReplicaSet) bool {
			return rs.Status.ReadyReplicas == 3 && rs.Status.AvailableReplicas == 3
		})
	})

	t.Run("scales up and down, deleting not-ready pods first", func(t *testing.T) {
		setReplicas(t, c, ns, "web", 5)
		waitForPods(t, c, ns, "web", 5)
		ready := map[string]bool{}
		pods, _ := activePods(ctx, c, ns, "web")
		for _, p := range pods {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready[p.Name] = true
				}
			}
		}
		if len(ready) != 3 {
			t.Fatalf("%d ready pods, want the 3 first", len(ready))
		}
		setReplicas(t, c, ns, "web", 3)
		for _, p := range waitForPods(t, c, ns, "web", 3) {
			if !ready[p.Name] {
				t.Errorf("kept not-ready pod %s, deleted a ready one", p.Name)
			}
		}
		ctrltest.Eventually(t, timeout, "SuccessfulDelete events", func(ctx context.Context) (bool, error) {
			msgs, err := eventMessages(ctx, c, ns, "web", "SuccessfulDelete")
			return len(msgs) == 2 && strings.HasPrefix(msgs[0], "Deleted pod: web-"), err
		})
		setReplicas(t, c, ns, "web", 0)
		waitForPods(t, c, ns, "web", 0)
		waitForStatus(t, c, ns, "web", "no replicas", func(rs *appsv1.ReplicaSet) bool {
			return rs.Status.Replicas == 0 && rs.Status.ObservedGeneration == rs.Generation
		})
	})

	t.Run("replaces a deleted pod and a failed one", func(t *testing.T) {
		setReplicas(t, c, ns, "web", 2)
		pods := waitForPods(t, c, ns, "web", 2)
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetPodFinished(&pods[1], 1); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "two new running pods", func(ctx context.Context) (bool, error) {
			list, err := activePods(ctx, c, ns, "web")
			var fresh int
			for _, p := range list {
				if p.Name != pods[0].Name && p.Name != pods[1].Name {
					fresh++
				}
			}
			return fresh == 2 && len(list) == 3, err // the failed pod stays, inactive
		})
		waitForStatus(t, c, ns, "web", "2 replicas", func(rs *appsv1.ReplicaSet) bool { return rs.Status.Replicas == 2 })
	})
}

func TestReplicaSetAdoptsReleasesAndIgnoresPods(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	pod := func(name string, l map[string]string, owners ...metav1.OwnerReference) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, OwnerReferences: owners},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		created, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	orphan := pod("orphan", map[string]string{"app": "db"})
	foreign := pod("foreign", map[string]string{"app": "db"}, metav1.OwnerReference{APIVersion: "apps/v1",
		Kind: "StatefulSet", Name: "other", UID: "0b6a4b6c-0000-4000-8000-000000000001", Controller: ptr.To(true)})

	rs, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet(ns, "db", 2, "db"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("adopts a matching orphan and counts it", func(t *testing.T) {
		ctrltest.Eventually(t, timeout, "orphan adopted", func(ctx context.Context) (bool, error) {
			p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, orphan.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ref := metav1.GetControllerOf(p)
			return ref != nil && ref.UID == rs.UID && ptr.Deref(ref.BlockOwnerDeletion, false), nil
		})
		waitForStatus(t, c, ns, "db", "2 replicas", func(rs *appsv1.ReplicaSet) bool { return rs.Status.Replicas == 2 })
		// The orphan, one created pod, and the foreign pod.
		pods := waitForPods(t, c, ns, "db", 3)
		var owned int
		for _, p := range pods {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
				owned++
			}
		}
		if owned != 2 {
			t.Fatalf("%d pods owned by the ReplicaSet, want 2", owned)
		}
	})

	t.Run("leaves a pod of another controller alone", func(t *testing.T) {
		p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, foreign.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "StatefulSet" || len(p.OwnerReferences) != 1 {
			t.Fatalf("foreign pod's owners changed: %+v", p.OwnerReferences)
		}
	})

	t.Run("releases a pod that no longer matches and replaces it", func(t *testing.T) {
		patch := []byte(`{"metadata":{"labels":{"app":"debug"}}}`)
		if _, err := c.Clientset.CoreV1().Pods(ns).Patch(ctx, orphan.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "pod released", func(ctx context.Context) (bool, error) {
			p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, orphan.Name, metav1.GetOptions{})
			return err == nil && len(p.OwnerReferences) == 0, err
		})
		waitForPods(t, c, ns, "db", 3)
		waitForStatus(t, c, ns, "db", "2 replicas", func(rs *appsv1.ReplicaSet) bool { return rs.Status.Replicas == 2 })
	})
}

// TestReplicaSetNeverOverCreates watches every pod of a large ReplicaSet from the start: however the
// cache lags behind the controller's own creations, exactly as many pods as replicas are ever made, and
// none has to be deleted again.
func TestReplicaSetNeverOverCreates(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	w, err := c.Clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet(ns, "many", 60, "many"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, c, ns, "many", "60 replicas", func(rs *appsv1.ReplicaSet) bool { return rs.Status.Replicas == 60 })
	// The watch delivers in order: once it shows a pod made now, it has shown every earlier one.
	sentinel := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sentinel", Labels: map[string]string{"app": "sentinel"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, sentinel, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var added, deleted int
	deadline := time.After(timeout)
	for done := false; !done; {
		select {
		case ev := <-w.ResultChan():
			pod, ok := ev.Object.(*corev1.Pod)
			switch {
			case !ok:
			case pod.Name == sentinel.Name:
				done = true
			case ev.Type == watch.Added:
				added++
			case ev.Type == watch.Deleted:
				deleted++
			}
		case <-deadline:
			t.Fatalf("the watch never showed the sentinel pod (%d pods added)", added)
		}
	}
	if added != 60 || deleted != 0 {
		t.Fatalf("%d pods created and %d deleted for 60 replicas", added, deleted)
	}
}

func TestReplicaSetCountsPodsAvailableAfterMinReadySeconds(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	rs := newReplicaSet(ns, "slow", 2, "slow")
	rs.Spec.MinReadySeconds = 2
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForPods(t, c, ns, "slow", 2)
	c.MarkPodsReady(t, ns, labels.SelectorFromSet(labels.Set{"app": "slow"}))
	readyAt := time.Now()
	waitForStatus(t, c, ns, "slow", "2 ready, not yet available", func(rs *appsv1.ReplicaSet) bool {
		return rs.Status.ReadyReplicas == 2
	})
	got := waitForStatus(t, c, ns, "slow", "2 available", func(rs *appsv1.ReplicaSet) bool {
		return rs.Status.AvailableReplicas == 2
	})
	// Ready times are in whole seconds: availability may come up to a second early, never sooner.
	if since := time.Since(readyAt); since < time.Second {
		t.Fatalf("available %v after ready, minReadySeconds is 2 (status %+v)", since, got.Status)
	}
}

func TestReplicaSetDeletionCostChoosesWhichPodsGo(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet(ns, "cost", 4, "cost"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitForPods(t, c, ns, "cost", 4)
	c.MarkPodsReady(t, ns, labels.SelectorFromSet(labels.Set{"app": "cost"}))
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	// The first two are cheap to lose; the others expensive.
	for i, p := range pods {
		cost := "100"
		if i < 2 {
			cost = "-5"
		}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, corev1.PodDeletionCost, cost)
		if _, err := c.Clientset.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitForStatus(t, c, ns, "cost", "4 ready", func(rs *appsv1.ReplicaSet) bool { return rs.Status.ReadyReplicas == 4 })
	setReplicas(t, c, ns, "cost", 2)
	left := waitForPods(t, c, ns, "cost", 2)
	names := []string{left[0].Name, left[1].Name}
	sort.Strings(names)
	if names[0] != pods[2].Name || names[1] != pods[3].Name {
		t.Fatalf("kept %v, want the expensive %s and %s", names, pods[2].Name, pods[3].Name)
	}
}
