package statefulset

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

func startCluster(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("statefulset-controller")}).SetupWithManager(mgr)
	})
}

// statefulSet is a StatefulSet named name of n replicas with a claim template "data", for the API to default.
func statefulSet(ns, name string, n int32, mutate ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(n),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.local/web:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "storage"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	for _, m := range mutate {
		m(set)
	}
	return set
}

func create(t *testing.T, c *ctrltest.Cluster, set *appsv1.StatefulSet) {
	t.Helper()
	if err := c.Client.Create(context.Background(), set); err != nil {
		t.Fatalf("create statefulset %s: %v", set.Name, err)
	}
}

// change applies mutate to the live set, retrying on conflicts.
func change(t *testing.T, c *ctrltest.Cluster, set *appsv1.StatefulSet, mutate func(*appsv1.StatefulSet)) {
	t.Helper()
	ctrltest.Eventually(t, timeout, "update statefulset "+set.Name, func(ctx context.Context) (bool, error) {
		live := &appsv1.StatefulSet{}
		if err := c.Client.Get(ctx, types.NamespacedName{Namespace: set.Namespace, Name: set.Name}, live); err != nil {
			return false, err
		}
		mutate(live)
		return true, c.Client.Update(ctx, live)
	})
}

func getSet(ctx context.Context, c *ctrltest.Cluster, ns, name string) (*appsv1.StatefulSet, error) {
	set := &appsv1.StatefulSet{}
	return set, c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, set)
}

// podsOf returns the pods of set "name" by pod name.
func podsOf(ctx context.Context, c *ctrltest.Cluster, ns, name string) (map[string]*corev1.Pod, error) {
	var list corev1.PodList
	if err := c.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil {
		return nil, err
	}
	pods := map[string]*corev1.Pod{}
	for i := range list.Items {
		pods[list.Items[i].Name] = &list.Items[i]
	}
	return pods, nil
}

func podNames(pods map[string]*corev1.Pod) []string {
	var names []string
	for name := range pods {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// markReady does the node's part for the set's pods: every pod not ready, not finished and not being
// deleted becomes Running and Ready. Pods the controller deletes meanwhile are skipped.
func markReady(ctx context.Context, c *ctrltest.Cluster, ns, name string) error {
	pods, err := podsOf(ctx, c, ns, name)
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded || isRunningAndReady(pod) {
			continue
		}
		if err := c.SetPodRunning(pod, true); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// settle plays the node, making pods ready as they come, until done holds.
func settle(t *testing.T, c *ctrltest.Cluster, ns, name, what string, done func(ctx context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool) {
	t.Helper()
	ctrltest.Eventually(t, timeout, what, func(ctx context.Context) (bool, error) {
		if err := markReady(ctx, c, ns, name); err != nil {
			return false, err
		}
		set, err := getSet(ctx, c, ns, name)
		if err != nil {
			return false, err
		}
		pods, err := podsOf(ctx, c, ns, name)
		if err != nil {
			return false, err
		}
		return done(ctx, set, pods), nil
	})
}

// synced tells whether the controller has reported on set's latest spec with the given pods.
func synced(set *appsv1.StatefulSet, replicas int32) bool {
	return set.Status.ObservedGeneration == set.Generation && set.Status.Replicas == replicas
}

func rolledOut(set *appsv1.StatefulSet) bool {
	n := *set.Spec.Replicas
	return set.Status.ObservedGeneration == set.Generation && set.Status.ReadyReplicas == n && set.Status.Replicas == n &&
		set.Status.UpdatedReplicas == n && set.Status.CurrentRevision == set.Status.UpdateRevision
}

// deletions records the order in which pods of ns are deleted from now on.
type deletions struct {
	mu    sync.Mutex
	names []string
}

func watchDeletions(t *testing.T, c *ctrltest.Cluster, ns string) *deletions {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := c.Clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	d := &deletions{}
	go func() {
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Deleted {
				d.mu.Lock()
				d.names = append(d.names, pod.Name)
				d.mu.Unlock()
			}
		}
	}()
	return d
}

func (d *deletions) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.names)
}

// eventSeen waits for an event on the set with reason and message.
func eventSeen(t *testing.T, c *ctrltest.Cluster, ns, setName, reason, message string) {
	t.Helper()
	ctrltest.Eventually(t, timeout, fmt.Sprintf("event %s %q", reason, message), func(ctx context.Context) (bool, error) {
		var events corev1.EventList
		if err := c.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == setName && e.InvolvedObject.Kind == "StatefulSet" && e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestStatefulSet(t *testing.T) {
	c := startCluster(t)

	t.Run("OrderedReady makes pods and claims one ordinal after another, and scales down in reverse", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "web", 3))

		for n := 1; n <= 3; n++ {
			// Once the controller reports n pods, it has seen the newest one not ready and made no other.
			ctrltest.Eventually(t, timeout, fmt.Sprintf("%d pods reported", n), func(ctx context.Context) (bool, error) {
				set, err := getSet(ctx, c, ns, "web")
				return err == nil && synced(set, int32(n)), err
			})
			pods, err := podsOf(context.Background(), c, ns, "web")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"web-0", "web-1", "web-2"}[:n]
			if got := podNames(pods); !slices.Equal(got, want) {
				t.Fatalf("pods %v while web-%d is not ready, want %v", got, n-1, want)
			}
			claim := &corev1.PersistentVolumeClaim{}
			if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("data-web-%d", n-1)}, claim); err != nil {
				t.Fatalf("claim of web-%d: %v", n-1, err)
			}
			if claim.Labels["app"] != "web" || claim.Labels["tier"] != "storage" || len(claim.OwnerReferences) != 0 {
				t.Errorf("claim %s: labels %v owners %v, want the template's and the selector's labels and no owner", claim.Name, claim.Labels, claim.OwnerReferences)
			}
			if err := markReady(context.Background(), c, ns, "web"); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, c, ns, "web", "3 ready replicas", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return rolledOut(set) && set.Status.AvailableReplicas == 3
		})

		set, _ := getSet(context.Background(), c, ns, "web")
		pods, _ := podsOf(context.Background(), c, ns, "web")
		for i := 0; i < 3; i++ {
			p := pods[fmt.Sprintf("web-%d", i)]
			if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "web" {
				t.Errorf("%s: hostname %q subdomain %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
			}
			if p.Labels[appsv1.StatefulSetPodNameLabel] != p.Name || p.Labels[appsv1.PodIndexLabel] != fmt.Sprint(i) ||
				p.Labels[appsv1.StatefulSetRevisionLabel] != set.Status.UpdateRevision {
				t.Errorf("%s: labels %v, want pod-name, pod-index %d and revision %s", p.Name, p.Labels, i, set.Status.UpdateRevision)
			}
			if v := p.Spec.Volumes[0]; v.Name != "data" || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "data-"+p.Name {
				t.Errorf("%s: volume %+v, want data from claim data-%s", p.Name, v, p.Name)
			}
			if !metav1.IsControlledBy(p, set) {
				t.Errorf("%s is not controlled by the set", p.Name)
			}
		}
		eventSeen(t, c, ns, "web", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")
		eventSeen(t, c, ns, "web", "SuccessfulCreate", "create Claim data-web-2 Pod web-2 in StatefulSet web success")

		deleted := watchDeletions(t, c, ns)
		change(t, c, set, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
		settle(t, c, ns, "web", "scaled down to 1", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
			return rolledOut(set) && len(pods) == 1 && len(deleted.list()) == 2
		})
		if got := deleted.list(); !slices.Equal(got, []string{"web-2", "web-1"}) {
			t.Errorf("deleted %v, want web-2 then web-1", got)
		}
		eventSeen(t, c, ns, "web", "SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful")
		for _, name := range []string{"data-web-1", "data-web-2"} {
			if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &corev1.PersistentVolumeClaim{}); err != nil {
				t.Errorf("claim %s after scale down under Retain: %v", name, err)
			}
		}
	})

	t.Run("Parallel makes every pod at once", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "par", 3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }))
		ctrltest.Eventually(t, timeout, "3 pods, none ready", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "par")
			return len(pods) == 3, err
		})
		pods, _ := podsOf(context.Background(), c, ns, "par")
		for _, p := range pods {
			if isRunningAndReady(p) {
				t.Errorf("%s is ready: the test did not make it so", p.Name)
			}
		}
	})

	t.Run("spec.ordinals.start numbers the pods", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "ord", 2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 3} }))
		settle(t, c, ns, "ord", "pods ord-3 and ord-4", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
			return rolledOut(set) && slices.Equal(podNames(pods), []string{"ord-3", "ord-4"})
		})
	})

	t.Run("a rolling update replaces pods from the highest ordinal down to the partition", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "roll", 3))
		settle(t, c, ns, "roll", "3 ready replicas", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return rolledOut(set)
		})
		set, _ := getSet(context.Background(), c, ns, "roll")
		before, _ := podsOf(context.Background(), c, ns, "roll")
		oldRevision := set.Status.CurrentRevision

		deleted := watchDeletions(t, c, ns)
		change(t, c, set, func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.Containers[0].Image = "registry.local/web:2"
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}
		})
		var newRevision string
		settle(t, c, ns, "roll", "roll-2 and roll-1 updated", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
			newRevision = set.Status.UpdateRevision
			return set.Status.ObservedGeneration == set.Generation && set.Status.UpdatedReplicas == 2 && set.Status.ReadyReplicas == 3 &&
				len(pods) == 3 && revisionOf(pods["roll-1"]) == newRevision && revisionOf(pods["roll-2"]) == newRevision
		})
		if got := deleted.list(); !slices.Equal(got, []string{"roll-2", "roll-1"}) {
			t.Errorf("deleted %v, want roll-2 then roll-1", got)
		}
		set, _ = getSet(context.Background(), c, ns, "roll")
		pods, _ := podsOf(context.Background(), c, ns, "roll")
		if pods["roll-0"].UID != before["roll-0"].UID || revisionOf(pods["roll-0"]) != oldRevision {
			t.Errorf("roll-0 below the partition was replaced or changed revision")
		}
		if pods["roll-2"].Spec.Containers[0].Image != "registry.local/web:2" {
			t.Errorf("updated pod runs %s", pods["roll-2"].Spec.Containers[0].Image)
		}
		if set.Status.CurrentRevision != oldRevision || set.Status.CurrentReplicas != 1 || newRevision == oldRevision {
			t.Errorf("status %+v, want current revision %s with 1 replica and another update revision", set.Status, oldRevision)
		}

		change(t, c, set, func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0) })
		settle(t, c, ns, "roll", "rollout complete", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return rolledOut(set) && set.Status.CurrentRevision == newRevision && set.Status.CurrentReplicas == 3
		})
		if got := deleted.list(); !slices.Equal(got, []string{"roll-2", "roll-1", "roll-0"}) {
			t.Errorf("deleted %v, want roll-2, roll-1, roll-0", got)
		}
	})

	t.Run("OnDelete updates a pod only when it is deleted", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "ondel", 2, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}))
		settle(t, c, ns, "ondel", "2 ready replicas", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return set.Status.ReadyReplicas == 2
		})
		set, _ := getSet(context.Background(), c, ns, "ondel")
		change(t, c, set, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "registry.local/web:2" })
		settle(t, c, ns, "ondel", "the update revision reported", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return set.Status.ObservedGeneration == set.Generation && set.Status.UpdateRevision != set.Status.CurrentRevision && set.Status.UpdatedReplicas == 0
		})
		pods, _ := podsOf(context.Background(), c, ns, "ondel")
		if err := c.Client.Delete(context.Background(), pods["ondel-1"]); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "ondel", "ondel-1 made again at the update revision", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
			p := pods["ondel-1"]
			return p != nil && revisionOf(p) == set.Status.UpdateRevision && set.Status.UpdatedReplicas == 1 && set.Status.ReadyReplicas == 2
		})
		pods, _ = podsOf(context.Background(), c, ns, "ondel")
		if pods["ondel-0"].Spec.Containers[0].Image != "registry.local/web:1" {
			t.Error("ondel-0 was updated without being deleted")
		}
	})

	t.Run("a failed pod is deleted and made again", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "fail", 1))
		settle(t, c, ns, "fail", "1 ready replica", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return rolledOut(set)
		})
		pods, _ := podsOf(context.Background(), c, ns, "fail")
		first := pods["fail-0"]
		if err := c.SetPodFinished(first, 1); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "fail-0 made again", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "fail")
			p := pods["fail-0"]
			return p != nil && p.UID != first.UID && p.Status.Phase == corev1.PodPending, err
		})
		eventSeen(t, c, ns, "fail", "RecreatingFailedPod", fmt.Sprintf("StatefulSet %s/fail is recreating failed Pod fail-0", ns))
	})

	t.Run("the retention policy hands claims to the set and to pods scaled away", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		create(t, c, statefulSet(ns, "ret", 3, func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
			}
		}))
		settle(t, c, ns, "ret", "3 ready replicas", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
			return rolledOut(set)
		})
		set, _ := getSet(context.Background(), c, ns, "ret")
		claimOwners := func(ctx context.Context, name string) ([]metav1.OwnerReference, error) {
			claim := &corev1.PersistentVolumeClaim{}
			err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, claim)
			return claim.OwnerReferences, err
		}
		for i := 0; i < 3; i++ {
			refs, err := claimOwners(context.Background(), fmt.Sprintf("data-ret-%d", i))
			if err != nil || len(refs) != 1 || refs[0].UID != set.UID || refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("data-ret-%d owners %+v (%v), want the set as controller: deleting the set deletes it", i, refs, err)
			}
		}
		pods, _ := podsOf(context.Background(), c, ns, "ret")
		condemned := pods["ret-2"]
		change(t, c, set, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](2) })
		settle(t, c, ns, "ret", "scaled down to 2", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
			return rolledOut(set) && len(pods) == 2
		})
		refs, err := claimOwners(context.Background(), "data-ret-2")
		if err != nil || len(refs) != 1 || refs[0].Kind != "Pod" || refs[0].UID != condemned.UID {
			t.Errorf("data-ret-2 owners %+v (%v), want only pod ret-2 (%s): it goes with the pod", refs, err, condemned.UID)
		}
		if refs, _ := claimOwners(context.Background(), "data-ret-1"); len(refs) != 1 || refs[0].UID != set.UID {
			t.Errorf("data-ret-1 owners %+v, want the set", refs)
		}

		// Scaled up again before the garbage collector took the claim, ret-2 waits for it to go rather
		// than mount the data of its predecessor; the claim's deletion (the collector's part, done here)
		// lets it be made with a fresh claim.
		change(t, c, set, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](3) })
		ctrltest.Eventually(t, timeout, "scale up observed", func(ctx context.Context) (bool, error) {
			set, err := getSet(ctx, c, ns, "ret")
			return err == nil && set.Status.ObservedGeneration == set.Generation, err
		})
		if pods, _ := podsOf(context.Background(), c, ns, "ret"); pods["ret-2"] != nil {
			t.Fatal("ret-2 was made while its predecessor's claim is being deleted")
		}
		stale := &corev1.PersistentVolumeClaim{}
		if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-ret-2"}, stale); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.Delete(context.Background(), stale); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "ret", "ret-2 made again with a fresh claim", func(ctx context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
			claim := &corev1.PersistentVolumeClaim{}
			err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "data-ret-2"}, claim)
			return rolledOut(set) && pods["ret-2"] != nil && err == nil && claim.UID != stale.UID && metav1.IsControlledBy(claim, set)
		})
	})

	t.Run("an orphan pod with a member's name is adopted, not made again", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		orphan := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "adopt-0", Namespace: ns, Labels: map[string]string{"app": "adopt"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.local/web:1"}}},
		}
		if err := c.Client.Create(context.Background(), orphan); err != nil {
			t.Fatal(err)
		}
		set := statefulSet(ns, "adopt", 1)
		set.Spec.VolumeClaimTemplates = nil
		create(t, c, set)
		ctrltest.Eventually(t, timeout, "adopt-0 adopted", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "adopt")
			p := pods["adopt-0"]
			return p != nil && p.UID == orphan.UID && metav1.IsControlledBy(p, set), err
		})
	})
}

// TestKubectlRollout drives a StatefulSet with the real kubectl: rollout status, history and undo read
// and restore the controller's revisions.
func TestKubectlRollout(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed")
	}
	c := startCluster(t)
	ns := c.Namespace(t)
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", c.Env.KubeconfigPath, "-n", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	create(t, c, statefulSet(ns, "kc", 2))
	settle(t, c, ns, "kc", "2 ready replicas", func(_ context.Context, set *appsv1.StatefulSet, _ map[string]*corev1.Pod) bool {
		return rolledOut(set)
	})
	first, _ := getSet(context.Background(), c, ns, "kc")
	if out := kubectl("rollout", "status", "statefulset/kc", "--watch=false"); !strings.Contains(out, "complete") {
		t.Errorf("rollout status: %s", out)
	}

	kubectl("set", "image", "statefulset/kc", "web=registry.local/web:2")
	settle(t, c, ns, "kc", "rolled out to web:2", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
		return rolledOut(set) && set.Status.UpdateRevision != first.Status.UpdateRevision
	})
	history := kubectl("rollout", "history", "statefulset/kc")
	if !strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") {
		t.Errorf("rollout history lacks revisions 1 and 2:\n%s", history)
	}

	if out := kubectl("rollout", "undo", "statefulset/kc"); !strings.Contains(out, "rolled back") {
		t.Errorf("rollout undo: %s", out)
	}
	settle(t, c, ns, "kc", "rolled back to web:1", func(_ context.Context, set *appsv1.StatefulSet, pods map[string]*corev1.Pod) bool {
		return rolledOut(set) && set.Status.UpdateRevision == first.Status.UpdateRevision &&
			pods["kc-0"] != nil && pods["kc-0"].Spec.Containers[0].Image == "registry.local/web:1"
	})
	rev := &appsv1.ControllerRevision{}
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: first.Status.UpdateRevision}, rev); err != nil {
		t.Fatal(err)
	}
	if rev.Revision != 3 {
		t.Errorf("the restored revision %s has number %d, want 3", rev.Name, rev.Revision)
	}
	history = kubectl("rollout", "history", "statefulset/kc")
	if strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") || !strings.Contains(history, "\n3 ") {
		t.Errorf("rollout history after undo, want revisions 2 and 3:\n%s", history)
	}
}
