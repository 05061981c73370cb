package daemonset

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

// daemonSet is a DaemonSet for the nodes labelled test=group, for the API to default. Each subtest
// has its own group of nodes, so that subtests sharing a cluster do not see each other's nodes.
func daemonSet(ns, name, group string, mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"test": group},
					Containers:   []corev1.Container{{Name: "agent", Image: "registry.local/agent:1"}},
				},
			},
		},
	}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

// addNodes adds n ready nodes named <group>-1..n in the group.
func addNodes(t *testing.T, c *ctrltest.Cluster, group string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		c.AddNode(t, fmt.Sprintf("%s-%d", group, i), map[string]string{"test": group})
	}
}

func podsOf(ctx context.Context, c *ctrltest.Cluster, ns, name string) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := c.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	return pods, nil
}

// nodesOf maps the nodes the pods are for to their pods.
func nodesOf(pods []*corev1.Pod) map[string][]*corev1.Pod {
	m := map[string][]*corev1.Pod{}
	for _, p := range pods {
		node, err := targetNode(p)
		if err != nil {
			node = "(none)"
		}
		m[node] = append(m[node], p)
	}
	return m
}

func keys(m map[string][]*corev1.Pod) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func getDS(ctx context.Context, c *ctrltest.Cluster, ns, name string) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	return ds, c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ds)
}

// markReady does the node's part: every pod not ready, not finished and not being deleted becomes
// Running and Ready.
func markReady(ctx context.Context, c *ctrltest.Cluster, ns, name string) error {
	pods, err := podsOf(ctx, c, ns, name)
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || isTerminal(pod) || isReady(pod) {
			continue
		}
		if err := c.SetPodRunning(pod, true); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// settle plays the nodes, making pods ready as they come, until done holds.
func settle(t *testing.T, c *ctrltest.Cluster, ns, name, what string, done func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool) {
	t.Helper()
	ctrltest.Eventually(t, timeout, what, func(ctx context.Context) (bool, error) {
		if err := markReady(ctx, c, ns, name); err != nil {
			return false, err
		}
		ds, err := getDS(ctx, c, ns, name)
		if err != nil {
			return false, err
		}
		pods, err := podsOf(ctx, c, ns, name)
		if err != nil {
			return false, err
		}
		return done(ds, pods), nil
	})
}

// rolledOut tells whether every node the DaemonSet wants runs an updated available pod, as `kubectl
// rollout status` judges it.
func rolledOut(ds *appsv1.DaemonSet, nodes int32) bool {
	s := ds.Status
	return s.ObservedGeneration == ds.Generation && s.DesiredNumberScheduled == nodes && s.CurrentNumberScheduled == nodes &&
		s.UpdatedNumberScheduled == nodes && s.NumberAvailable == nodes && s.NumberReady == nodes && s.NumberMisscheduled == 0
}

func change(t *testing.T, c *ctrltest.Cluster, ns, name string, mutate func(*appsv1.DaemonSet)) {
	t.Helper()
	ctrltest.Eventually(t, timeout, "update daemonset "+name, func(ctx context.Context) (bool, error) {
		ds, err := getDS(ctx, c, ns, name)
		if err != nil {
			return false, err
		}
		mutate(ds)
		return true, c.Client.Update(ctx, ds)
	})
}

func eventSeen(t *testing.T, c *ctrltest.Cluster, ns, name, reason, messagePrefix string) {
	t.Helper()
	ctrltest.Eventually(t, timeout, fmt.Sprintf("event %s %q", reason, messagePrefix), func(ctx context.Context) (bool, error) {
		var events corev1.EventList
		if err := c.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "DaemonSet" && e.InvolvedObject.Name == name && e.Reason == reason && strings.HasPrefix(e.Message, messagePrefix) {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestDaemonSet(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("daemonset-controller")}).SetupWithManager(mgr)
	})

	t.Run("one pod per node, bound by node affinity, following nodes as they come and change", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		addNodes(t, c, "follow", 1, 3)
		if err := c.Client.Create(context.Background(), daemonSet(ns, "agent", "follow")); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "agent", "a ready pod on each of 3 nodes", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			return rolledOut(ds, 3) && len(pods) == 3
		})
		pods, _ := podsOf(context.Background(), c, ns, "agent")
		byNode := nodesOf(pods)
		if got := keys(byNode); !slices.Equal(got, []string{"follow-1", "follow-2", "follow-3"}) {
			t.Fatalf("pods are for nodes %v", got)
		}
		ds, _ := getDS(context.Background(), c, ns, "agent")
		for node, ps := range byNode {
			p := ps[0]
			terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != node {
				t.Errorf("pod %s for %s has required node terms %+v", p.Name, node, terms)
			}
			if !metav1.IsControlledBy(p, ds) || !strings.HasPrefix(p.Name, "agent-") || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" {
				t.Errorf("pod %s: owners %v labels %v", p.Name, p.OwnerReferences, p.Labels)
			}
			tolerated := map[string]bool{}
			for _, tol := range p.Spec.Tolerations {
				tolerated[tol.Key] = true
			}
			for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeUnschedulable, corev1.TaintNodePIDPressure} {
				if !tolerated[key] {
					t.Errorf("pod %s does not tolerate %s", p.Name, key)
				}
			}
		}
		eventSeen(t, c, ns, "agent", "SuccessfulCreate", "Created pod: agent-")

		addNodes(t, c, "follow", 4, 4)
		tainted := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "follow-tainted", Labels: map[string]string{"test": "follow"}},
			Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}},
		}
		if err := c.Client.Create(context.Background(), tainted); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "agent", "the 4th node gets a pod, the tainted one none", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			return rolledOut(ds, 4) && len(pods) == 4
		})
		pods, _ = podsOf(context.Background(), c, ns, "agent")
		if got := keys(nodesOf(pods)); !slices.Equal(got, []string{"follow-1", "follow-2", "follow-3", "follow-4"}) {
			t.Errorf("pods are for nodes %v", got)
		}

		// A node that loses the label the template selects loses its pod.
		node := &corev1.Node{}
		if err := c.Client.Get(context.Background(), types.NamespacedName{Name: "follow-2"}, node); err != nil {
			t.Fatal(err)
		}
		node.Labels["test"] = "elsewhere"
		if err := c.Client.Update(context.Background(), node); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "agent", "follow-2 loses its pod", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			_, on2 := nodesOf(pods)["follow-2"]
			return rolledOut(ds, 3) && len(pods) == 3 && !on2
		})
		eventSeen(t, c, ns, "agent", "SuccessfulDelete", "Deleted pod: agent-")

		// The pod of a node that is deleted before the scheduler bound it goes with the node.
		if err := c.Client.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "follow-4"}}); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "agent", "follow-4 and its pod gone", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			_, on4 := nodesOf(pods)["follow-4"]
			return rolledOut(ds, 2) && len(pods) == 2 && !on4
		})
	})

	t.Run("a rolling update replaces pods, never more than maxUnavailable at once", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		addNodes(t, c, "roll", 1, 3)
		if err := c.Client.Create(context.Background(), daemonSet(ns, "roll", "roll")); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "roll", "3 ready pods", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool { return rolledOut(ds, 3) })
		before, _ := podsOf(context.Background(), c, ns, "roll")
		oldHash := before[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]

		change(t, c, ns, "roll", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "registry.local/agent:2" })
		settle(t, c, ns, "roll", "every pod replaced", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			withReadyPod := 0
			for _, ps := range nodesOf(pods) {
				if slices.ContainsFunc(ps, func(p *corev1.Pod) bool { return isReady(p) && p.DeletionTimestamp == nil }) {
					withReadyPod++
				}
			}
			if withReadyPod < 2 {
				t.Errorf("only %d of 3 nodes have a ready pod: more than maxUnavailable 1 down", withReadyPod)
			}
			if !rolledOut(ds, 3) || len(pods) != 3 {
				return false
			}
			for _, p := range pods {
				if p.Spec.Containers[0].Image != "registry.local/agent:2" || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == oldHash {
					return false
				}
			}
			return true
		})
	})

	t.Run("a surging rolling update starts each new pod before deleting the old one", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		addNodes(t, c, "surge", 1, 2)
		ds := daemonSet(ns, "surge", "surge", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		})
		if err := c.Client.Create(context.Background(), ds); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "surge", "2 ready pods", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool { return rolledOut(ds, 2) })
		change(t, c, ns, "surge", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "registry.local/agent:2" })
		// Until the test makes it ready, the new pod runs beside the old one, on one node only (maxSurge 1).
		ctrltest.Eventually(t, timeout, "a new pod beside an old one", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "surge")
			if err != nil {
				return false, err
			}
			surged := 0
			for node, ps := range nodesOf(pods) {
				if len(ps) == 2 {
					surged++
					if !slices.ContainsFunc(ps, isReady) || ps[0].Spec.Containers[0].Image == ps[1].Spec.Containers[0].Image {
						t.Errorf("node %s has two pods, not the ready old one and a new one", node)
					}
				}
			}
			return surged == 1 && len(pods) == 3, nil
		})
		settle(t, c, ns, "surge", "every pod replaced", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			for node, ps := range nodesOf(pods) {
				if !slices.ContainsFunc(ps, func(p *corev1.Pod) bool { return isReady(p) && p.DeletionTimestamp == nil }) {
					t.Errorf("node %s has no ready pod during a surge", node)
				}
			}
			if !rolledOut(ds, 2) || len(pods) != 2 {
				return false
			}
			for _, p := range pods {
				if p.Spec.Containers[0].Image != "registry.local/agent:2" {
					return false
				}
			}
			return true
		})
	})

	t.Run("OnDelete replaces a pod only when it is deleted", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		addNodes(t, c, "ondel", 1, 2)
		ds := daemonSet(ns, "ondel", "ondel", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		})
		if err := c.Client.Create(context.Background(), ds); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "ondel", "2 ready pods", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool { return rolledOut(ds, 2) })
		change(t, c, ns, "ondel", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "registry.local/agent:2" })
		settle(t, c, ns, "ondel", "the update observed, no pod updated", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			return ds.Status.ObservedGeneration == ds.Generation && ds.Status.UpdatedNumberScheduled == 0 && ds.Status.NumberAvailable == 2
		})
		pods, _ := podsOf(context.Background(), c, ns, "ondel")
		victim := nodesOf(pods)["ondel-1"][0]
		if err := c.Client.Delete(context.Background(), victim); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "ondel", "ondel-1 runs the new template", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			on1 := nodesOf(pods)["ondel-1"]
			return ds.Status.UpdatedNumberScheduled == 1 && ds.Status.NumberAvailable == 2 && len(on1) == 1 &&
				on1[0].Spec.Containers[0].Image == "registry.local/agent:2"
		})
		pods, _ = podsOf(context.Background(), c, ns, "ondel")
		if p := nodesOf(pods)["ondel-2"][0]; p.Spec.Containers[0].Image != "registry.local/agent:1" {
			t.Errorf("the pod on ondel-2 was replaced without being deleted")
		}
	})

	t.Run("a failed pod is deleted and made again", func(t *testing.T) {
		t.Parallel()
		ns := c.Namespace(t)
		addNodes(t, c, "fail", 1, 1)
		if err := c.Client.Create(context.Background(), daemonSet(ns, "fail", "fail")); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "fail", "a ready pod", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool { return rolledOut(ds, 1) })
		pods, _ := podsOf(context.Background(), c, ns, "fail")
		first := pods[0]
		if err := c.SetPodFinished(first, 1); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "a new pod on fail-1", func(ctx context.Context) (bool, error) {
			pods, err := podsOf(ctx, c, ns, "fail")
			return len(pods) == 1 && pods[0].UID != first.UID && nodesOf(pods)["fail-1"] != nil, err
		})
		eventSeen(t, c, ns, "fail", "FailedDaemonPod", fmt.Sprintf("Found failed daemon pod %s/%s on node fail-1, will try to kill it", ns, first.Name))
	})

	t.Run("kubectl rollout status, history and undo", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("kubectl"); err != nil {
			t.Skip("kubectl not installed")
		}
		ns := c.Namespace(t)
		kubectl := func(args ...string) string {
			t.Helper()
			out, err := exec.Command("kubectl", append([]string{"--kubeconfig", c.Env.KubeconfigPath, "-n", ns}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		addNodes(t, c, "kc", 1, 2)
		if err := c.Client.Create(context.Background(), daemonSet(ns, "kc", "kc")); err != nil {
			t.Fatal(err)
		}
		settle(t, c, ns, "kc", "2 ready pods", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool { return rolledOut(ds, 2) })
		if out := kubectl("rollout", "status", "daemonset/kc", "--watch=false"); !strings.Contains(out, "successfully rolled out") {
			t.Errorf("rollout status: %s", out)
		}
		kubectl("set", "image", "daemonset/kc", "agent=registry.local/agent:2")
		settle(t, c, ns, "kc", "rolled out to agent:2", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			return rolledOut(ds, 2) && len(pods) == 2 && pods[0].Spec.Containers[0].Image == "registry.local/agent:2" &&
				pods[1].Spec.Containers[0].Image == "registry.local/agent:2"
		})
		if history := kubectl("rollout", "history", "daemonset/kc"); !strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") {
			t.Errorf("rollout history lacks revisions 1 and 2:\n%s", history)
		}
		if out := kubectl("rollout", "undo", "daemonset/kc"); !strings.Contains(out, "rolled back") {
			t.Errorf("rollout undo: %s", out)
		}
		settle(t, c, ns, "kc", "rolled back to agent:1", func(ds *appsv1.DaemonSet, pods []*corev1.Pod) bool {
			return rolledOut(ds, 2) && len(pods) == 2 && pods[0].Spec.Containers[0].Image == "registry.local/agent:1" &&
				pods[1].Spec.Containers[0].Image == "registry.local/agent:1"
		})
		history := kubectl("rollout", "history", "daemonset/kc")
		if strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") || !strings.Contains(history, "\n3 ") {
			t.Errorf("rollout history after undo, want revisions 2 and 3:\n%s", history)
		}
	})
}
