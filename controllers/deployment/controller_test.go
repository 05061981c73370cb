package deployment_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/deployment"
	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/controllers/replicaset"
)

const timeout = 30 * time.Second

// start runs the ReplicaSet and Deployment reconcilers together, as a cluster does.
func start(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t,
		func(mgr manager.Manager) error {
			return (&replicaset.Reconciler{Client: mgr.GetClient(),
				Recorder: mgr.GetEventRecorderFor("replicaset-controller")}).SetupWithManager(mgr)
		},
		func(mgr manager.Manager) error {
			return (&deployment.Reconciler{Client: mgr.GetClient(),
				Recorder: mgr.GetEventRecorderFor("deployment-controller")}).SetupWithManager(mgr)
		})
}

func newDeployment(ns, name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func selectorOf(app string) labels.Selector { return labels.SelectorFromSet(labels.Set{"app": app}) }

// markReady does a node's part for the pods of app that are not ready yet; pods that go meanwhile are
// skipped.
func markReady(ctx context.Context, c *ctrltest.Cluster, ns, app string) error {
	pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selectorOf(app).String()})
	if err != nil {
		return err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || podReady(pod) {
			continue
		}
		if err := c.SetPodRunning(pod, true); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// keepMarkingReady marks the pods of app ready as they come, until the test ends or stop is called.
func keepMarkingReady(t *testing.T, c *ctrltest.Cluster, ns, app string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := markReady(ctx, c, ns, app); err != nil && ctx.Err() == nil {
				t.Errorf("mark pods ready: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func getDeployment(ctx context.Context, c *ctrltest.Cluster, ns, name string) (*appsv1.Deployment, error) {
	return c.Clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// rolledOut tells whether d's rollout is complete, as kubectl rollout status tells it.
func rolledOut(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
		d.Status.Replicas == *d.Spec.Replicas && d.Status.AvailableReplicas == *d.Spec.Replicas
}

func waitForDeployment(t *testing.T, c *ctrltest.Cluster, ns, name, what string, cond func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	ctrltest.Eventually(t, timeout, what, func(ctx context.Context) (bool, error) {
		var err error
		d, err = getDeployment(ctx, c, ns, name)
		return err == nil && cond(d), err
	})
	return d
}

func waitForRollout(t *testing.T, c *ctrltest.Cluster, ns, name string) *appsv1.Deployment {
	t.Helper()
	return waitForDeployment(t, c, ns, name, "rollout of "+name, func(d *appsv1.Deployment) bool {
		p := condition(d, appsv1.DeploymentProgressing)
		return rolledOut(d) && p != nil && p.Reason == "NewReplicaSetAvailable"
	})
}

// replicaSets are the ReplicaSets of deployment name, by revision.
func replicaSets(ctx context.Context, c *ctrltest.Cluster, ns, name string) ([]appsv1.ReplicaSet, error) {
	list, err := c.Clientset.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: selectorOf(name).String()})
	if err != nil {
		return nil, err
	}
	revision := func(rs *appsv1.ReplicaSet) int {
		n, _ := strconv.Atoi(rs.Annotations[deployment.RevisionAnnotation])
		return n
	}
	sort.Slice(list.Items, func(i, j int) bool { return revision(&list.Items[i]) < revision(&list.Items[j]) })
	return list.Items, nil
}

// replicaSetWithImage is the ReplicaSet of name whose template runs image.
func replicaSetWithImage(t *testing.T, c *ctrltest.Cluster, ns, name, image string) appsv1.ReplicaSet {
	t.Helper()
	sets, err := replicaSets(context.Background(), c, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range sets {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	t.Fatalf("no replica set of %s runs %s", name, image)
	return appsv1.ReplicaSet{}
}

func setImage(t *testing.T, c *ctrltest.Cluster, ns, name, image string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
	if _, err := c.Clientset.AppsV1().Deployments(ns).Patch(context.Background(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("set image of %s: %v", name, err)
	}
}

func patchDeployment(t *testing.T, c *ctrltest.Cluster, ns, name, patch string) {
	t.Helper()
	if _, err := c.Clientset.AppsV1().Deployments(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch %s with %s: %v", name, patch, err)
	}
}

func activePods(ctx context.Context, c *ctrltest.Cluster, ns, app string) ([]corev1.Pod, error) {
	list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selectorOf(app).String()})
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

// podWatcher follows every change of the pods of a namespace from a watch, and checks a condition over
// the whole set after each one.
type podWatcher struct {
	mu         sync.Mutex
	pods       map[string]*corev1.Pod
	events     int
	violations []string
	stop       func()
}

func watchPods(t *testing.T, c *ctrltest.Cluster, ns string, check func(pods map[string]*corev1.Pod) string) *podWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	pw := &podWatcher{pods: map[string]*corev1.Pod{}}
	for i := range list.Items {
		pw.pods[list.Items[i].Name] = &list.Items[i]
	}
	if v := check(pw.pods); v != "" {
		pw.violations = append(pw.violations, "at start: "+v)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(pw.pods, pod.Name)
			} else {
				pw.pods[pod.Name] = pod
			}
			pw.events++
			if v := check(pw.pods); v != "" {
				pw.violations = append(pw.violations, fmt.Sprintf("after %s of %s: %s", ev.Type, pod.Name, v))
			}
			pw.mu.Unlock()
		}
	}()
	pw.stop = sync.OnceFunc(func() { w.Stop(); cancel(); <-done })
	t.Cleanup(pw.stop)
	return pw
}

// report stops the watch and fails t with the violations seen.
func (pw *podWatcher) report(t *testing.T) {
	t.Helper()
	pw.stop()
	if pw.events == 0 {
		t.Fatal("the watch saw no pod change")
	}
	for i, v := range pw.violations {
		if i == 10 {
			t.Errorf("... %d more", len(pw.violations)-10)
			break
		}
		t.Error(v)
	}
}

// rollingBounds checks the RollingUpdate promise over the pods not being deleted: at most replicas
// plus surge exist, at least replicas less unavailable are ready.
func rollingBounds(replicas, surge, unavailable int) func(map[string]*corev1.Pod) string {
	return func(pods map[string]*corev1.Pod) string {
		var total, ready int
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			total++
			if podReady(p) {
				ready++
			}
		}
		switch {
		case total > replicas+surge:
			return fmt.Sprintf("%d pods, more than %d+%d", total, replicas, surge)
		case ready < replicas-unavailable:
			return fmt.Sprintf("%d ready pods, fewer than %d-%d", ready, replicas, unavailable)
		}
		return ""
	}
}

func TestDeploymentRollingUpdate(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	// The default strategy: 25% surge (of 10: 3, rounded up) and 25% unavailable (2, rounded down).
	d, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, newDeployment(ns, "web", 10, "web:1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keepMarkingReady(t, c, ns, "web")

	t.Run("becomes available with a ReplicaSet named after its template hash", func(t *testing.T) {
		d = waitForRollout(t, c, ns, "web")
		if a := condition(d, appsv1.DeploymentAvailable); a == nil || a.Status != corev1.ConditionTrue || a.Reason != "MinimumReplicasAvailable" {
			t.Errorf("Available condition %+v", a)
		}
		if d.Annotations[deployment.RevisionAnnotation] != "1" {
			t.Errorf("deployment revision %q, want 1", d.Annotations[deployment.RevisionAnnotation])
		}
		sets, err := replicaSets(ctx, c, ns, "web")
		if err != nil || len(sets) != 1 {
			t.Fatalf("replica sets %v, %v", len(sets), err)
		}
		rs := sets[0]
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if hash == "" || rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
			rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			t.Errorf("replica set %s: labels %v selector %v template labels %v", rs.Name, rs.Labels, rs.Spec.Selector, rs.Spec.Template.Labels)
		}
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" {
			t.Errorf("replica set owner %+v", ref)
		}
		want := map[string]string{deployment.RevisionAnnotation: "1", deployment.DesiredReplicasAnnotation: "10",
			deployment.MaxReplicasAnnotation: "13"}
		for k, v := range want {
			if rs.Annotations[k] != v {
				t.Errorf("replica set annotation %s=%q, want %q", k, rs.Annotations[k], v)
			}
		}
		if d.Status.Replicas != 10 || d.Status.ReadyReplicas != 10 || d.Status.UnavailableReplicas != 0 ||
			ptr.Deref(d.Status.TerminatingReplicas, -1) != 0 {
			t.Errorf("status %+v", d.Status)
		}
	})

	t.Run("rolls a new template out within maxSurge and maxUnavailable", func(t *testing.T) {
		pw := watchPods(t, c, ns, rollingBounds(10, 3, 2))
		setImage(t, c, ns, "web", "web:2")
		d = waitForRollout(t, c, ns, "web")
		pw.report(t)
		if d.Annotations[deployment.RevisionAnnotation] != "2" {
			t.Errorf("deployment revision %q, want 2", d.Annotations[deployment.RevisionAnnotation])
		}
		old, cur := replicaSetWithImage(t, c, ns, "web", "web:1"), replicaSetWithImage(t, c, ns, "web", "web:2")
		if *old.Spec.Replicas != 0 || *cur.Spec.Replicas != 10 || cur.Annotations[deployment.RevisionAnnotation] != "2" {
			t.Errorf("old %s has %d replicas, new %s has %d, revision %s", old.Name, *old.Spec.Replicas,
				cur.Name, *cur.Spec.Replicas, cur.Annotations[deployment.RevisionAnnotation])
		}
		ctrltest.Eventually(t, timeout, "ScalingReplicaSet events", func(ctx context.Context) (bool, error) {
			events, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			var up, down bool
			for _, e := range events.Items {
				up = up || (e.Reason == "ScalingReplicaSet" && strings.HasPrefix(e.Message, "Scaled up replica set "+cur.Name+" from "))
				down = down || (e.Reason == "ScalingReplicaSet" && strings.HasPrefix(e.Message, "Scaled down replica set "+old.Name+" from "))
			}
			return up && down, err
		})
	})

	t.Run("an undo reuses the old ReplicaSet under a new revision", func(t *testing.T) {
		v2 := replicaSetWithImage(t, c, ns, "web", "web:2")
		setImage(t, c, ns, "web", "web:3")
		waitForRollout(t, c, ns, "web")
		// What kubectl rollout undo does: apply the template of the previous ReplicaSet.
		setImage(t, c, ns, "web", "web:2")
		d = waitForRollout(t, c, ns, "web")
		again := replicaSetWithImage(t, c, ns, "web", "web:2")
		if again.Name != v2.Name || again.UID != v2.UID {
			t.Fatalf("undo made replica set %s, want %s reused", again.Name, v2.Name)
		}
		if again.Annotations[deployment.RevisionAnnotation] != "4" || again.Annotations[deployment.RevisionHistoryAnnotation] != "2" ||
			d.Annotations[deployment.RevisionAnnotation] != "4" {
			t.Errorf("revision %q history %q, deployment revision %q; want 4, 2, 4", again.Annotations[deployment.RevisionAnnotation],
				again.Annotations[deployment.RevisionHistoryAnnotation], d.Annotations[deployment.RevisionAnnotation])
		}
		sets, _ := replicaSets(ctx, c, ns, "web")
		if len(sets) != 3 {
			t.Errorf("%d replica sets, want 3", len(sets))
		}
	})

	t.Run("scales up and down", func(t *testing.T) {
		for _, n := range []int32{15, 4} {
			patchDeployment(t, c, ns, "web", fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
			d = waitForRollout(t, c, ns, "web")
			pods, err := activePods(ctx, c, ns, "web")
			if err != nil || len(pods) != int(n) {
				t.Fatalf("%d pods, want %d (%v)", len(pods), n, err)
			}
			rs := replicaSetWithImage(t, c, ns, "web", "web:2")
			if rs.Annotations[deployment.DesiredReplicasAnnotation] != fmt.Sprint(n) {
				t.Errorf("desired-replicas %q, want %d", rs.Annotations[deployment.DesiredReplicasAnnotation], n)
			}
		}
	})

	t.Run("a deleted pod is replaced", func(t *testing.T) {
		pods, err := activePods(ctx, c, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "replacement pod", func(ctx context.Context) (bool, error) {
			now, err := activePods(ctx, c, ns, "web")
			for _, p := range now {
				if p.Name == pods[0].Name {
					return false, err
				}
			}
			return len(now) == 4, err
		})
		waitForRollout(t, c, ns, "web")
	})
}

func TestDeploymentRecreateNeverRunsOldAndNewPodsTogether(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	d := newDeployment(ns, "db", 3, "db:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keepMarkingReady(t, c, ns, "db")
	waitForRollout(t, c, ns, "db")

	pw := watchPods(t, c, ns, func(pods map[string]*corev1.Pod) string {
		hashes := map[string]bool{}
		for _, p := range pods {
			hashes[p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]] = true
		}
		if len(hashes) > 1 {
			return fmt.Sprintf("pods of %d templates at once", len(hashes))
		}
		return ""
	})
	setImage(t, c, ns, "db", "db:2")
	waitForRollout(t, c, ns, "db")
	pw.report(t)
	pods, err := activePods(ctx, c, ns, "db")
	if err != nil || len(pods) != 3 {
		t.Fatalf("%d pods (%v)", len(pods), err)
	}
	for _, p := range pods {
		if p.Spec.Containers[0].Image != "db:2" {
			t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
}

func TestPausedDeploymentScalesButDoesNotRoll(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, newDeployment(ns, "api", 3, "api:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keepMarkingReady(t, c, ns, "api")
	waitForRollout(t, c, ns, "api")

	patchDeployment(t, c, ns, "api", `{"spec":{"paused":true}}`)
	setImage(t, c, ns, "api", "api:2")
	patchDeployment(t, c, ns, "api", `{"spec":{"replicas":4}}`)
	d := waitForDeployment(t, c, ns, "api", "paused change observed", func(d *appsv1.Deployment) bool {
		p := condition(d, appsv1.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && p != nil && p.Reason == "DeploymentPaused" &&
			p.Status == corev1.ConditionUnknown && d.Status.AvailableReplicas == 4
	})
	sets, err := replicaSets(ctx, c, ns, "api")
	if err != nil || len(sets) != 1 || *sets[0].Spec.Replicas != 4 {
		t.Fatalf("paused deployment has %d replica sets (%v), want its one old one scaled to 4", len(sets), err)
	}
	if d.Status.UpdatedReplicas != 0 {
		t.Errorf("updatedReplicas %d while paused on a new template", d.Status.UpdatedReplicas)
	}

	patchDeployment(t, c, ns, "api", `{"spec":{"paused":false}}`)
	d = waitForRollout(t, c, ns, "api")
	if img := replicaSetWithImage(t, c, ns, "api", "api:2"); *img.Spec.Replicas != 4 {
		t.Errorf("new replica set has %d replicas, want 4", *img.Spec.Replicas)
	}
}

func TestDeploymentProgressDeadlineExceeded(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	d := newDeployment(ns, "stuck", 2, "stuck:1")
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(2))
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No pod ever becomes ready.
	d = waitForDeployment(t, c, ns, "stuck", "progress deadline exceeded", func(d *appsv1.Deployment) bool {
		p := condition(d, appsv1.DeploymentProgressing)
		return p != nil && p.Reason == "ProgressDeadlineExceeded"
	})
	p := condition(d, appsv1.DeploymentProgressing)
	sets, _ := replicaSets(ctx, c, ns, "stuck")
	if p.Status != corev1.ConditionFalse || len(sets) != 1 || p.Message != fmt.Sprintf("ReplicaSet %q has timed out progressing.", sets[0].Name) {
		t.Errorf("Progressing %+v", p)
	}
	if a := condition(d, appsv1.DeploymentAvailable); a == nil || a.Status != corev1.ConditionFalse || a.Reason != "MinimumReplicasUnavailable" {
		t.Errorf("Available %+v", a)
	}
}

func TestDeploymentScalesProportionallyDuringRollout(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, newDeployment(ns, "app", 10, "app:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := keepMarkingReady(t, c, ns, "app")
	waitForRollout(t, c, ns, "app")
	stop()

	// The new pods never become ready: the rollout stops with the old ReplicaSet at 8 (2 unavailable)
	// and the new one at 5 (filling the surge of 3).
	setImage(t, c, ns, "app", "app:2")
	ctrltest.Eventually(t, timeout, "rollout stuck at 8 old and 5 new", func(ctx context.Context) (bool, error) {
		sets, err := replicaSets(ctx, c, ns, "app")
		return err == nil && len(sets) == 2 && *sets[0].Spec.Replicas == 8 && *sets[1].Spec.Replicas == 5, err
	})
	sets, err := replicaSets(ctx, c, ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	old, cur := sets[0].Name, sets[1].Name
	// Scaled to 20 (surge 5): 25 replicas shared 8:5.
	patchDeployment(t, c, ns, "app", `{"spec":{"replicas":20}}`)
	ctrltest.Eventually(t, timeout, "proportional scale-up events", func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		var oldUp, curUp bool
		for _, e := range events.Items {
			oldUp = oldUp || e.Message == "Scaled up replica set "+old+" from 8 to 15"
			curUp = curUp || e.Message == "Scaled up replica set "+cur+" from 5 to 10"
		}
		return oldUp && curUp, err
	})
	ctrltest.Eventually(t, timeout, "replica annotations of the new size", func(ctx context.Context) (bool, error) {
		sets, err := replicaSets(ctx, c, ns, "app")
		if err != nil || len(sets) != 2 {
			return false, err
		}
		for _, rs := range sets {
			if rs.Annotations[deployment.DesiredReplicasAnnotation] != "20" || rs.Annotations[deployment.MaxReplicasAnnotation] != "25" {
				return false, nil
			}
		}
		return true, nil
	})
}

func TestDeploymentKeepsRevisionHistoryLimit(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	d := newDeployment(ns, "hist", 2, "hist:1")
	d.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "first"}
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keepMarkingReady(t, c, ns, "hist")
	waitForRollout(t, c, ns, "hist")
	if rs := replicaSetWithImage(t, c, ns, "hist", "hist:1"); rs.Annotations["kubernetes.io/change-cause"] != "first" {
		t.Errorf("change-cause not copied: %v", rs.Annotations)
	}
	for i := 2; i <= 4; i++ {
		setImage(t, c, ns, "hist", fmt.Sprintf("hist:%d", i))
		waitForRollout(t, c, ns, "hist")
	}
	ctrltest.Eventually(t, timeout, "only the newest old ReplicaSet kept", func(ctx context.Context) (bool, error) {
		sets, err := replicaSets(ctx, c, ns, "hist")
		if err != nil || len(sets) != 2 {
			return false, err
		}
		return sets[0].Spec.Template.Spec.Containers[0].Image == "hist:3" &&
			sets[1].Spec.Template.Spec.Containers[0].Image == "hist:4", nil
	})
}

func TestDeploymentAdoptsAndReleasesReplicaSets(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	d := newDeployment(ns, "adopt", 2, "adopt:1")
	// An orphan ReplicaSet running the Deployment's template, made before it.
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "adopt-orphan", Labels: map[string]string{"app": "adopt"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(2)), Selector: d.Spec.Selector.DeepCopy(),
			Template: *d.Spec.Template.DeepCopy()},
	}
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	created, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keepMarkingReady(t, c, ns, "adopt")
	waitForRollout(t, c, ns, "adopt")
	sets, err := replicaSets(ctx, c, ns, "adopt")
	if err != nil || len(sets) != 1 || sets[0].Name != "adopt-orphan" {
		t.Fatalf("replica sets %v (%v): want the orphan adopted as the new one", sets, err)
	}
	if ref := metav1.GetControllerOf(&sets[0]); ref == nil || ref.UID != created.UID {
		t.Fatalf("orphan not adopted: owners %+v", sets[0].OwnerReferences)
	}

	patch := []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Patch(ctx, "adopt-orphan", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, timeout, "replica set released", func(ctx context.Context) (bool, error) {
		rs, err := c.Clientset.AppsV1().ReplicaSets(ns).Get(ctx, "adopt-orphan", metav1.GetOptions{})
		return err == nil && metav1.GetControllerOf(rs) == nil, err
	})
}

func TestDeploymentMaxSurgeZeroReplacesOneAtATime(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	d := newDeployment(ns, "one", 4, "one:1")
	zero, one := intstr.FromInt32(0), intstr.FromString("25%")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &one}}
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keepMarkingReady(t, c, ns, "one")
	waitForRollout(t, c, ns, "one")
	pw := watchPods(t, c, ns, rollingBounds(4, 0, 1))
	setImage(t, c, ns, "one", "one:2")
	waitForRollout(t, c, ns, "one")
	pw.report(t)
}

// TestKubectlRollout drives a Deployment with the real kubectl: rollout status waits for each rollout
// (while pods are marked ready in the background, as nodes would), history lists the revisions with
// their change causes, undo goes back to the previous template, pause holds a template change back
// until resume, and restart rolls the same template out again.
func TestKubectlRollout(t *testing.T) {
	const kubectlPath = "/usr/bin/kubectl"
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("no kubectl: %v", err)
	}
	c := start(t)
	ns := c.Namespace(t)
	kubectl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectlPath, append([]string{"--kubeconfig", c.Env.KubeconfigPath, "-n", ns}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	status := func() {
		t.Helper()
		if out := kubectl("rollout", "status", "deployment/web", "--timeout=60s"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
			t.Fatalf("rollout status: %s", out)
		}
	}
	image := func() string {
		t.Helper()
		return kubectl("get", "deployment/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	}
	keepMarkingReady(t, c, ns, "web")

	kubectl("create", "deployment", "web", "--image=web:1", "--replicas=4")
	status()
	kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=start at web:1")
	kubectl("set", "image", "deployment/web", "web=web:2")
	kubectl("annotate", "deployment/web", "--overwrite", "kubernetes.io/change-cause=move to web:2")
	status()

	history := kubectl("rollout", "history", "deployment/web")
	for _, want := range []string{"1         start at web:1", "2         move to web:2"} {
		if !strings.Contains(history, want) {
			t.Errorf("rollout history lacks %q:\n%s", want, history)
		}
	}
	if out := kubectl("rollout", "history", "deployment/web", "--revision=1"); !strings.Contains(out, "web:1") {
		t.Errorf("revision 1 does not show its template:\n%s", out)
	}

	first := replicaSetWithImage(t, c, ns, "web", "web:1")
	kubectl("rollout", "undo", "deployment/web")
	status()
	if img := image(); img != "web:1" {
		t.Fatalf("after undo the template runs %s", img)
	}
	if again := replicaSetWithImage(t, c, ns, "web", "web:1"); again.UID != first.UID || again.Annotations[deployment.RevisionAnnotation] != "3" {
		t.Errorf("undo: replica set %s revision %s, want %s reused as revision 3", again.Name,
			again.Annotations[deployment.RevisionAnnotation], first.Name)
	}

	kubectl("rollout", "pause", "deployment/web")
	kubectl("set", "image", "deployment/web", "web=web:3")
	d := waitForDeployment(t, c, ns, "web", "paused", func(d *appsv1.Deployment) bool {
		p := condition(d, appsv1.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && p != nil && p.Reason == "DeploymentPaused"
	})
	if sets, _ := replicaSets(context.Background(), c, ns, "web"); len(sets) != 2 || d.Status.UpdatedReplicas != 0 {
		t.Fatalf("paused deployment rolled: %d replica sets, %d updated", len(sets), d.Status.UpdatedReplicas)
	}
	kubectl("rollout", "resume", "deployment/web")
	status()
	if rs := replicaSetWithImage(t, c, ns, "web", "web:3"); *rs.Spec.Replicas != 4 {
		t.Errorf("resumed rollout left %s at %d replicas", rs.Name, *rs.Spec.Replicas)
	}

	before, err := replicaSets(context.Background(), c, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	kubectl("rollout", "restart", "deployment/web")
	status()
	after, err := replicaSets(context.Background(), c, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("restart: %d replica sets, want %d", len(after), len(before)+1)
	}
	newest := after[len(after)-1]
	if newest.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || *newest.Spec.Replicas != 4 ||
		newest.Annotations[deployment.RevisionAnnotation] != "5" {
		t.Errorf("restart made %s with template annotations %v, %d replicas, revision %s", newest.Name,
			newest.Spec.Template.Annotations, *newest.Spec.Replicas, newest.Annotations[deployment.RevisionAnnotation])
	}
}
