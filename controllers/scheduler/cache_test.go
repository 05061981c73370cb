package scheduler

import (
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"
)

// requested returns the cpu (millicores) and pod count the snapshot holds for a node.
func requested(t *testing.T, c *schedulerCache, name string) (int64, int) {
	t.Helper()
	s := newSnapshot()
	c.updateSnapshot(s)
	n, ok := s.nodes[name]
	if !ok {
		t.Fatalf("node %s not in the snapshot", name)
	}
	return n.requested.milliCPU, len(n.pods)
}

func TestAssumedPodsCountUntilForgottenOrConfirmed(t *testing.T) {
	c := newSchedulerCache()
	c.addNode(node("a", "4", "8Gi"))
	c.addNode(node("b", "4", "8Gi"))
	p := pod("p", "1", "")
	if err := c.assumePod(newPodInfo(p), "a"); err != nil {
		t.Fatal(err)
	}
	if cpu, pods := requested(t, c, "a"); cpu != 1000 || pods != 1 || !c.isAssumed(p.UID) {
		t.Fatalf("after assume: %dm and %d pods on a (assumed %v), want 1000m, 1 pod", cpu, pods, c.isAssumed(p.UID))
	}
	if p.Spec.NodeName != "" {
		t.Errorf("assuming changed the informer's pod")
	}
	if err := c.assumePod(newPodInfo(p), "b"); err == nil {
		t.Errorf("assuming a pod twice succeeded")
	}
	c.forgetPod(p.UID)
	if cpu, pods := requested(t, c, "a"); cpu != 0 || pods != 0 {
		t.Fatalf("after forget: %dm and %d pods on a, want none", cpu, pods)
	}

	// The binding lands: the informer's version replaces the assumed one, once.
	if err := c.assumePod(newPodInfo(p), "a"); err != nil {
		t.Fatal(err)
	}
	c.addPod(newPodInfo(on(p.DeepCopy(), "a")))
	if cpu, pods := requested(t, c, "a"); cpu != 1000 || pods != 1 || c.isAssumed(p.UID) {
		t.Fatalf("after confirmation: %dm and %d pods on a (assumed %v), want 1000m, 1 pod, confirmed", cpu, pods, c.isAssumed(p.UID))
	}
	c.forgetPod(p.UID) // a late failure report does not undo a confirmed pod
	if _, pods := requested(t, c, "a"); pods != 1 {
		t.Errorf("forget removed a confirmed pod")
	}
}

func TestConfirmationOnAnotherNodeMovesThePod(t *testing.T) {
	c := newSchedulerCache()
	c.addNode(node("a", "4", "8Gi"))
	c.addNode(node("b", "4", "8Gi"))
	p := pod("p", "1", "")
	if err := c.assumePod(newPodInfo(p), "a"); err != nil {
		t.Fatal(err)
	}
	c.addPod(newPodInfo(on(p.DeepCopy(), "b")))
	if _, pods := requested(t, c, "a"); pods != 0 {
		t.Errorf("pod still counted on a")
	}
	if _, pods := requested(t, c, "b"); pods != 1 {
		t.Errorf("pod not counted on b")
	}
}

func TestPodsOfANodeSeenLaterCount(t *testing.T) {
	c := newSchedulerCache()
	c.addPod(newPodInfo(on(pod("early", "2", ""), "late")))
	s := newSnapshot()
	c.updateSnapshot(s)
	if len(s.list) != 0 {
		t.Fatalf("snapshot lists %d nodes before any node exists", len(s.list))
	}
	c.addNode(node("late", "4", "8Gi"))
	if cpu, pods := requested(t, c, "late"); cpu != 2000 || pods != 1 {
		t.Errorf("node seen after its pod: %dm and %d pods, want 2000m, 1 pod", cpu, pods)
	}
	c.removeNode("late")
	c.addNode(node("late", "4", "8Gi"))
	if _, pods := requested(t, c, "late"); pods != 1 {
		t.Errorf("node that came back lost its pods")
	}
	if !c.removePod(pod("early", "", "").UID) || c.removePod(pod("early", "", "").UID) {
		t.Errorf("removePod does not report whether the pod was there")
	}
}

func TestSnapshotCopiesOnlyChangesAndIsolatesTheCycle(t *testing.T) {
	c := newSchedulerCache()
	c.addNode(node("a", "4", "8Gi"))
	c.addNode(node("b", "4", "8Gi"))
	s := newSnapshot()
	c.updateSnapshot(s)
	a, b := s.nodes["a"], s.nodes["b"]
	genB := b.generation

	c.addPod(newPodInfo(on(pod("p", "1", ""), "a")))
	if len(a.pods) != 0 {
		t.Fatalf("a cache change reached the snapshot before an update")
	}
	c.updateSnapshot(s)
	if s.nodes["a"] != a || len(a.pods) != 1 || a.requested.milliCPU != 1000 {
		t.Errorf("snapshot of a after update: %d pods, %dm", len(a.pods), a.requested.milliCPU)
	}
	if b.generation != genB {
		t.Errorf("unchanged node b was copied again")
	}
	c.removeNode("b")
	c.updateSnapshot(s)
	if _, ok := s.nodes["b"]; ok || len(s.list) != 1 {
		t.Errorf("removed node still in the snapshot (%d listed)", len(s.list))
	}
}

func TestSnapshotTracksNodesWithAffinityPods(t *testing.T) {
	c := newSchedulerCache()
	c.addNode(node("a", "4", "8Gi"))
	c.addNode(node("b", "4", "8Gi"))
	anti := pod("anti", "", "", "app", "x")
	anti.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{podTerm("app", "x", corev1.LabelHostname)}}}
	s := newSnapshot()
	c.addPod(newPodInfo(on(anti, "b")))
	c.updateSnapshot(s)
	if len(s.withAffinity) != 1 || s.withAffinity[0].name() != "b" || len(s.withRequiredAntiAffinity) != 1 {
		t.Fatalf("nodes with affinity pods: %d, with anti-affinity: %d, want b in both", len(s.withAffinity), len(s.withRequiredAntiAffinity))
	}
	c.removePod(anti.UID)
	c.updateSnapshot(s)
	if len(s.withAffinity) != 0 || len(s.withRequiredAntiAffinity) != 0 {
		t.Errorf("nodes with affinity pods after removal: %d, %d, want none", len(s.withAffinity), len(s.withRequiredAntiAffinity))
	}
}

func TestNodeOrderInterleavesZones(t *testing.T) {
	c := newSchedulerCache()
	for _, n := range []*corev1.Node{
		node("a1", "1", "1Gi", corev1.LabelTopologyZone, "a"),
		node("a2", "1", "1Gi", corev1.LabelTopologyZone, "a"),
		node("a3", "1", "1Gi", corev1.LabelTopologyZone, "a"),
		node("b1", "1", "1Gi", corev1.LabelTopologyZone, "b"),
		node("c1", "1", "1Gi", corev1.LabelTopologyZone, "c"),
		node("c2", "1", "1Gi", corev1.LabelTopologyZone, "c"),
	} {
		c.addNode(n)
	}
	order := func() []string {
		s := newSnapshot()
		c.updateSnapshot(s)
		var names []string
		for _, n := range s.list {
			names = append(names, n.name())
		}
		return names
	}
	if got, want := order(), []string{"a1", "b1", "c1", "a2", "c2", "a3"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	c.addNode(node("a2", "1", "1Gi", corev1.LabelTopologyZone, "b")) // a2 moves zone
	if got, want := order(), []string{"a1", "b1", "c1", "a3", "a2", "c2"}; !slices.Equal(got, want) {
		t.Errorf("order after a zone change = %v, want %v", got, want)
	}
}

func TestPodInfoRequests(t *testing.T) {
	p := pod("p", "500m", "1Gi")
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "bare", Image: "i"})
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "i", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}
	p.Spec.Overhead = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}
	pi := newPodInfo(p)
	if pi.requests.milliCPU != 2000 || pi.requests.memory != (1<<30)+100<<20 {
		t.Errorf("requests = %dm, %d bytes, want the init container's 2000m and 1Gi plus 100Mi overhead", pi.requests.milliCPU, pi.requests.memory)
	}
	// For spreading, the container without requests counts as 100m and 200Mi.
	if pi.nonZeroCPU != 2000 || pi.nonZeroMemory != (1<<30)+200<<20+100<<20 {
		t.Errorf("non-zero requests = %dm, %d bytes", pi.nonZeroCPU, pi.nonZeroMemory)
	}
}

func TestPodInfoKeepsUnparsableAffinityAsAnError(t *testing.T) {
	p := pod("p", "1", "")
	p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}, TopologyKey: "zone"}}}}
	pi := newPodInfo(p)
	if pi.parseErr == nil || pi.requests.milliCPU != 1000 {
		t.Errorf("parse error %v, cpu %dm: want an error and the resources still counted", pi.parseErr, pi.requests.milliCPU)
	}
	c := newCluster(t, []*corev1.Node{node("a", "4", "8Gi")}, nil)
	if pre, _ := c.filter(interPodAffinity{}, p); pre == "" {
		t.Errorf("pod with an unparsable affinity term passed preFilter")
	}
}

func TestScalarResourceNames(t *testing.T) {
	for name, want := range map[corev1.ResourceName]bool{
		"example.com/gpu": true, "hugepages-2Mi": true, "kubernetes.io/batch-cpu": true, "attachable-volumes-csi-x": true,
		"cpu": false, "requests.example.com/gpu": false, "storage": false,
	} {
		if got := isScalarResourceName(name); got != want {
			t.Errorf("isScalarResourceName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSpecRequestsMatchTheUpstreamHelper(t *testing.T) {
	container := func(name string, rl ...string) corev1.Container {
		c := corev1.Container{Name: name, Image: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
		for i := 0; i+1 < len(rl); i += 2 {
			c.Resources.Requests[corev1.ResourceName(rl[i])] = resource.MustParse(rl[i+1])
		}
		return c
	}
	sidecar := func(c corev1.Container) corev1.Container {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		return c
	}
	specs := map[string]corev1.PodSpec{
		"one container":      {Containers: []corev1.Container{container("a", "cpu", "500m", "memory", "1Gi")}},
		"no requests":        {Containers: []corev1.Container{container("a"), container("b")}},
		"explicit zero":      {Containers: []corev1.Container{container("a", "cpu", "0")}},
		"extended resources": {Containers: []corev1.Container{container("a", "example.com/gpu", "2", "hugepages-2Mi", "4Mi")}},
		"larger init":        {Containers: []corev1.Container{container("a", "cpu", "1")}, InitContainers: []corev1.Container{container("i", "cpu", "3", "memory", "1Gi")}},
		"sidecars then init": {Containers: []corev1.Container{container("a", "cpu", "1")},
			InitContainers: []corev1.Container{sidecar(container("s", "cpu", "1")), container("i", "cpu", "2500m"), sidecar(container("t", "memory", "1Gi"))}},
		"overhead": {Containers: []corev1.Container{container("a", "cpu", "1")}, Overhead: corev1.ResourceList{"cpu": resource.MustParse("250m")}},
	}
	for name, spec := range specs {
		p := &corev1.Pod{Spec: spec}
		if !specRequestsSuffice(p) {
			t.Fatalf("%s: fast path not taken", name)
		}
		want := resourcesFrom(resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}))
		want.pods = 0
		if got := specRequests(p, false); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: requests = %+v, want %+v", name, got, want)
		}
		nz := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: nonMissingRequests(p)})
		if got := specRequests(p, true); got.milliCPU != nz.Cpu().MilliValue() || got.memory != nz.Memory().Value() {
			t.Errorf("%s: requests with defaults = %dm %d, want %dm %d", name, got.milliCPU, got.memory, nz.Cpu().MilliValue(), nz.Memory().Value())
		}
	}
	resized := &corev1.Pod{Spec: specs["one container"], Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		{Name: "a", AllocatedResources: corev1.ResourceList{"cpu": resource.MustParse("2")}}}}}
	if specRequestsSuffice(resized) {
		t.Errorf("fast path taken for a pod resized in place")
	}
	if pi := newPodInfo(resized); pi.requests.milliCPU != 2000 {
		t.Errorf("resized pod requests %dm, want the 2000m allocated", pi.requests.milliCPU)
	}
}
