package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// node builds a Ready node with the given cpus, memory and room for 110 pods, labelled with its
// hostname and the given labels.
func node(name, cpu, memory string, nodeLabels ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
	for i := 0; i+1 < len(nodeLabels); i += 2 {
		n.Labels[nodeLabels[i]] = nodeLabels[i+1]
	}
	n.Status.Allocatable = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n.Status.Capacity = n.Status.Allocatable
	return n
}

func withTaints(n *corev1.Node, taints ...corev1.Taint) *corev1.Node {
	n.Spec.Taints = taints
	return n
}

// pod builds a pod of namespace "default" with one container requesting cpu and memory ("" for
// none), labelled with the given labels.
func pod(name, cpu, memory string, podLabels ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{}}}
	for i := 0; i+1 < len(podLabels); i += 2 {
		p.Labels[podLabels[i]] = podLabels[i+1]
	}
	requests := corev1.ResourceList{}
	if cpu != "" {
		requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		requests[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "app", Resources: corev1.ResourceRequirements{Requests: requests}}}
	p.Spec.SchedulerName = DefaultSchedulerName
	return p
}

// on places a pod on a node.
func on(p *corev1.Pod, nodeName string) *corev1.Pod {
	p.Spec.NodeName = nodeName
	return p
}

// cluster is an in-memory scheduler cache with nodes and bound pods, and the other objects plugins
// read, for testing plugins and the algorithm without an API server.
type cluster struct {
	t      testing.TB
	cache  *schedulerCache
	snap   *snapshot
	lister clusterLister
	pvs    *pvAssumptions
}

func newCluster(t testing.TB, nodes []*corev1.Node, pods []*corev1.Pod, objects ...client.Object) *cluster {
	c := &cluster{t: t, cache: newSchedulerCache(), snap: newSnapshot(), pvs: newPVAssumptions()}
	for _, n := range nodes {
		c.cache.addNode(n)
	}
	for _, p := range pods {
		c.cache.addPod(newPodInfo(p))
	}
	objects = append(objects, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	c.lister = readerLister{reader: fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objects...).Build()}
	return c
}

// cycle prepares a scheduling cycle for p over the cluster as it is now.
func (c *cluster) cycle(p *corev1.Pod) *cycle {
	c.cache.updateSnapshot(c.snap)
	cy := &cycle{}
	cy.reset(context.Background(), logr.Discard(), newPodInfo(p), c.snap, c.lister)
	return cy
}

// filter runs plugin's preFilter and, unless it rejects or skips, its filter on every node. It
// returns the preFilter's message, and each node's rejection message ("" when the node fits).
func (c *cluster) filter(plugin filterPlugin, p *corev1.Pod) (string, map[string]string) {
	c.t.Helper()
	cy := c.cycle(p)
	skip, st := plugin.preFilter(cy)
	if st != nil {
		if st.code == codeError {
			c.t.Fatalf("%s preFilter: %v", plugin.name(), st.err)
		}
		return st.message(), nil
	}
	out := map[string]string{}
	for _, n := range c.snap.list {
		out[n.name()] = ""
		if skip {
			continue
		}
		if cy.nodeNames != nil && !cy.nodeNames.Has(n.name()) {
			out[n.name()] = "not in " + plugin.name() + "'s nodes"
			continue
		}
		if st := plugin.filter(cy, n); st != nil {
			if st.code == codeError {
				c.t.Fatalf("%s filter on %s: %v", plugin.name(), n.name(), st.err)
			}
			out[n.name()] = st.message()
		}
	}
	return "", out
}

// score runs plugin's preScore, score and normalize over every node and returns the normalised
// scores by node; nil when the plugin skips the pod.
func (c *cluster) score(plugin scorePlugin, p *corev1.Pod) map[string]int64 {
	c.t.Helper()
	cy := c.cycle(p)
	nodes := c.snap.list
	skip, err := plugin.preScore(cy, nodes)
	if err != nil {
		c.t.Fatalf("%s preScore: %v", plugin.name(), err)
	}
	if skip {
		return nil
	}
	scores := make([]int64, len(nodes))
	for i, n := range nodes {
		scores[i] = plugin.score(cy, n)
	}
	plugin.normalize(cy, scores)
	out := map[string]int64{}
	for i, n := range nodes {
		out[n.name()] = scores[i]
	}
	return out
}

// schedule runs the whole default profile for p.
func (c *cluster) schedule(a *algorithm, p *corev1.Pod) (string, error) {
	return a.schedule(c.cycle(p))
}

func newTestAlgorithm(c *cluster) *algorithm {
	return newAlgorithm(0, rand.New(rand.NewPCG(1, 2)), c.pvs)
}

// scheduleAndAssume places pods one after the other, each counted on its node before the next, and
// returns the node of each.
func (c *cluster) scheduleAndAssume(a *algorithm, pods ...*corev1.Pod) []string {
	c.t.Helper()
	var placed []string
	for _, p := range pods {
		n, err := c.schedule(a, p)
		if err != nil {
			c.t.Fatalf("schedule %s: %v", p.Name, err)
		}
		if err := c.cache.assumePod(newPodInfo(p), n); err != nil {
			c.t.Fatal(err)
		}
		placed = append(placed, n)
	}
	return placed
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
