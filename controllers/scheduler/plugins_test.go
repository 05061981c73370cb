package scheduler

import (
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// filterCase is a pod and the result a filter plugin should give it: a preFilter rejection, or the
// rejection of each node ("" when it fits).
type filterCase struct {
	name      string
	pod       *corev1.Pod
	wantPre   string
	wantNodes map[string]string
}

func runFilterCases(t *testing.T, plugin filterPlugin, nodes []*corev1.Node, existing []*corev1.Pod, objects []client.Object, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, nodes, existing, objects...)
			pre, got := c.filter(plugin, tc.pod)
			if pre != tc.wantPre {
				t.Fatalf("preFilter = %q, want %q", pre, tc.wantPre)
			}
			if tc.wantPre == "" && !maps.Equal(got, tc.wantNodes) {
				t.Errorf("filter = %v, want %v", got, tc.wantNodes)
			}
		})
	}
}

func requests(p *corev1.Pod, rl corev1.ResourceList) *corev1.Pod {
	p.Spec.Containers[0].Resources.Requests = rl
	return p
}

func TestNodeResourcesFitFilter(t *testing.T) {
	small := node("n", "4", "8Gi")
	small.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("3")
	withInit := func(p *corev1.Pod, cpu string, sidecar bool) *corev1.Pod {
		ic := corev1.Container{Name: "init", Image: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}
		if sidecar {
			ic.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}
		p.Spec.InitContainers = []corev1.Container{ic}
		return p
	}
	withOverhead := func(p *corev1.Pod, cpu string) *corev1.Pod {
		p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		return p
	}
	tests := []struct {
		name     string
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     string
	}{
		{"fits beside other pods", []*corev1.Pod{on(pod("a", "2", "4Gi"), "n")}, pod("p", "1", "1Gi"), ""},
		{"exactly fills the node", []*corev1.Pod{on(pod("a", "3", "4Gi"), "n")}, pod("p", "1", "4Gi"), ""},
		{"not enough cpu left", []*corev1.Pod{on(pod("a", "3", ""), "n")}, pod("p", "2", ""), "Insufficient cpu"},
		{"every missing resource is named", []*corev1.Pod{on(pod("a", "3", "7Gi"), "n")}, pod("p", "2", "2Gi"), "Insufficient cpu, Insufficient memory"},
		{"the largest init container counts", []*corev1.Pod{on(pod("a", "1", ""), "n")}, withInit(pod("p", "1", ""), "3500m", false), "Insufficient cpu"},
		{"init containers run before the others", []*corev1.Pod{on(pod("a", "1", ""), "n")}, withInit(pod("p", "2", ""), "3", false), ""},
		{"sidecars add to the containers", []*corev1.Pod{on(pod("a", "500m", ""), "n")}, withInit(pod("p", "2", ""), "2", true), "Insufficient cpu"},
		{"overhead counts", []*corev1.Pod{on(pod("a", "500m", ""), "n")}, withOverhead(pod("p", "1", ""), "3"), "Insufficient cpu"},
		{"pods without requests still take a pod slot", []*corev1.Pod{on(pod("a", "", ""), "n"), on(pod("b", "", ""), "n"), on(pod("c", "", ""), "n")},
			pod("p", "", ""), "Too many pods"},
		{"pods without requests fit a full node", []*corev1.Pod{on(pod("a", "4", "8Gi"), "n")}, pod("p", "", ""), ""},
		{"extended resources the node lacks", nil,
			requests(pod("p", "", ""), corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}), "Insufficient example.com/gpu"},
		{"ephemeral storage the node lacks", nil,
			requests(pod("p", "", ""), corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}), "Insufficient ephemeral-storage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, []*corev1.Node{small}, tc.existing)
			_, got := c.filter(nodeResourcesFit{}, tc.pod)
			if got["n"] != tc.want {
				t.Errorf("filter = %q, want %q", got["n"], tc.want)
			}
		})
	}
}

func TestNodeResourcesFitIsUnresolvableOnlyWhenTheNodeIsTooSmall(t *testing.T) {
	c := newCluster(t, []*corev1.Node{node("n", "4", "8Gi")}, []*corev1.Pod{on(pod("a", "3", ""), "n")})
	n := c.cycle(pod("x", "", "")).snap.nodes["n"]
	if st := fits(&newPodInfo(pod("p", "2", "")).requests, n); st.code != codeUnschedulable {
		t.Errorf("request larger than what is free: code %v, want unschedulable", st.code)
	}
	if st := fits(&newPodInfo(pod("p", "5", "")).requests, n); st.code != codeUnresolvable {
		t.Errorf("request larger than the node: code %v, want unresolvable", st.code)
	}
}

func TestNodeResourcesFitScoresLeastAllocatedHighest(t *testing.T) {
	nodes := []*corev1.Node{node("empty", "4", "16Gi"), node("half", "4", "16Gi"), node("tiny", "1", "1Gi")}
	c := newCluster(t, nodes, []*corev1.Pod{on(pod("a", "2", "8Gi"), "half")})
	got := c.score(nodeResourcesFit{}, pod("p", "1", "4Gi"))
	// empty: 3/4 of cpu and memory left; half: 1/4 of each; tiny: the pod does not fit.
	want := map[string]int64{"empty": 75, "half": 25, "tiny": 0}
	if !maps.Equal(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	// A pod without requests counts as 100m and 200Mi: tiny keeps 90% of cpu and 80% of memory.
	if got := c.score(nodeResourcesFit{}, pod("p", "", "")); got["tiny"] != 85 {
		t.Errorf("score of tiny for a pod without requests = %d, want 85", got["tiny"])
	}
}

func TestBalancedAllocationPrefersEvenUse(t *testing.T) {
	nodes := []*corev1.Node{node("even", "4", "16Gi"), node("cpu-heavy", "4", "16Gi")}
	c := newCluster(t, nodes, []*corev1.Pod{on(pod("a", "2", ""), "cpu-heavy")})
	got := c.score(balancedAllocation{}, pod("p", "1", "4Gi"))
	// even: 25% of cpu and of memory; cpu-heavy: 75% of cpu, 25% of memory, a deviation of 0.25.
	want := map[string]int64{"even": 100, "cpu-heavy": 75}
	if !maps.Equal(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	if got := c.score(balancedAllocation{}, pod("p", "", "")); got != nil {
		t.Errorf("best-effort pod scored %v, want skipped", got)
	}
}

func TestTaintToleration(t *testing.T) {
	nodes := []*corev1.Node{
		node("clean", "4", "8Gi"),
		withTaints(node("dedicated", "4", "8Gi"), corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}),
		withTaints(node("draining", "4", "8Gi"), corev1.Taint{Key: "k", Value: "v", Effect: corev1.TaintEffectNoExecute}),
		withTaints(node("avoid", "4", "8Gi"), corev1.Taint{Key: "p", Value: "q", Effect: corev1.TaintEffectPreferNoSchedule}),
	}
	tolerating := func(tols ...corev1.Toleration) *corev1.Pod {
		p := pod("p", "", "")
		p.Spec.Tolerations = tols
		return p
	}
	runFilterCases(t, taintToleration{}, nodes, nil, nil, []filterCase{
		{name: "untolerated NoSchedule and NoExecute taints reject", pod: pod("p", "", ""), wantNodes: map[string]string{
			"clean": "", "dedicated": "node(s) had untolerated taint {dedicated: gpu}", "draining": "node(s) had untolerated taint {k: v}", "avoid": ""}},
		{name: "Exists tolerates any value", pod: tolerating(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}),
			wantNodes: map[string]string{"clean": "", "dedicated": "", "draining": "node(s) had untolerated taint {k: v}", "avoid": ""}},
		{name: "a toleration of another effect does not tolerate",
			pod: tolerating(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}),
			wantNodes: map[string]string{"clean": "", "dedicated": "node(s) had untolerated taint {dedicated: gpu}",
				"draining": "node(s) had untolerated taint {k: v}", "avoid": ""}},
		{name: "an empty key with Exists tolerates everything", pod: tolerating(corev1.Toleration{Operator: corev1.TolerationOpExists}),
			wantNodes: map[string]string{"clean": "", "dedicated": "", "draining": "", "avoid": ""}},
	})

	c := newCluster(t, nodes, nil)
	got := c.score(taintToleration{}, pod("p", "", ""))
	want := map[string]int64{"clean": 100, "dedicated": 100, "draining": 100, "avoid": 0}
	if !maps.Equal(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	got = c.score(taintToleration{}, tolerating(corev1.Toleration{Key: "p", Operator: corev1.TolerationOpEqual, Value: "q", Effect: corev1.TaintEffectPreferNoSchedule}))
	if got["avoid"] != 100 {
		t.Errorf("score of a tolerated PreferNoSchedule node = %d, want 100", got["avoid"])
	}
}

func TestNodeUnschedulable(t *testing.T) {
	cordoned := node("cordoned", "4", "8Gi")
	cordoned.Spec.Unschedulable = true
	nodes := []*corev1.Node{node("open", "4", "8Gi"), cordoned}
	tolerating := pod("p", "", "")
	tolerating.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	runFilterCases(t, nodeUnschedulable{}, nodes, nil, nil, []filterCase{
		{name: "cordoned nodes reject", pod: pod("p", "", ""), wantNodes: map[string]string{"open": "", "cordoned": "node(s) were unschedulable"}},
		{name: "unless tolerated", pod: tolerating, wantNodes: map[string]string{"open": "", "cordoned": ""}},
	})
}

func TestNodeName(t *testing.T) {
	nodes := []*corev1.Node{node("a", "4", "8Gi"), node("b", "4", "8Gi")}
	runFilterCases(t, nodeName{}, nodes, nil, nil, []filterCase{
		{name: "no node asked", pod: pod("p", "", ""), wantNodes: map[string]string{"a": "", "b": ""}},
		{name: "only the named node", pod: on(pod("p", "", ""), "b"), wantNodes: map[string]string{"a": "node(s) didn't match the requested node name", "b": ""}},
	})
}

func TestNodeAffinity(t *testing.T) {
	nodes := []*corev1.Node{
		node("a", "4", "8Gi", corev1.LabelTopologyZone, "z1", "disk", "ssd"),
		node("b", "4", "8Gi", corev1.LabelTopologyZone, "z1"),
		node("c", "4", "8Gi", corev1.LabelTopologyZone, "z2"),
	}
	withSelector := pod("p", "", "")
	withSelector.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Pod {
		p := pod("p", "", "")
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		return p
	}
	inZone := corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"z2"}}}}
	named := func(names ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: names}
	}
	const reason = "node(s) didn't match Pod's node affinity/selector"
	runFilterCases(t, nodeAffinityPlugin{}, nodes, nil, nil, []filterCase{
		{name: "no constraint", pod: pod("p", "", ""), wantNodes: map[string]string{"a": "", "b": "", "c": ""}},
		{name: "nodeSelector", pod: withSelector, wantNodes: map[string]string{"a": "", "b": reason, "c": reason}},
		{name: "required terms", pod: required(inZone), wantNodes: map[string]string{"a": reason, "b": reason, "c": ""}},
		{name: "terms are ORed", pod: required(inZone, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "disk", Operator: corev1.NodeSelectorOpExists}}}), wantNodes: map[string]string{"a": "", "b": reason, "c": ""}},
		{name: "node names narrow the search", pod: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{named("b")}}),
			wantNodes: map[string]string{"a": "not in NodeAffinity's nodes", "b": "", "c": "not in NodeAffinity's nodes"}},
		{name: "contradicting node names", pod: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{named("a"), named("b")}}),
			wantPre: "pod affinity terms conflict"},
	})

	preferred := pod("p", "", "")
	preferred.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
		{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}},
		{Weight: 5, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
	}}}
	c := newCluster(t, nodes, nil)
	want := map[string]int64{"a": 100, "b": 66, "c": 0}
	if got := c.score(nodeAffinityPlugin{}, preferred); !maps.Equal(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	if got := c.score(nodeAffinityPlugin{}, pod("p", "", "")); got != nil {
		t.Errorf("pod without preferences scored %v, want skipped", got)
	}
}

func TestNodePorts(t *testing.T) {
	withPort := func(p *corev1.Pod, ip string, protocol corev1.Protocol, port int32) *corev1.Pod {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: protocol})
		return p
	}
	nodes := []*corev1.Node{node("any-ip", "4", "8Gi"), node("one-ip", "4", "8Gi"), node("free", "4", "8Gi")}
	existing := []*corev1.Pod{
		on(withPort(pod("a", "", ""), "", "", 8080), "any-ip"),
		on(withPort(pod("b", "", ""), "10.0.0.1", corev1.ProtocolUDP, 8080), "one-ip"),
	}
	const reason = "node(s) didn't have free ports for the requested pod ports"
	runFilterCases(t, nodePorts{}, nodes, existing, nil, []filterCase{
		{name: "no host ports", pod: pod("p", "", ""), wantNodes: map[string]string{"any-ip": "", "one-ip": "", "free": ""}},
		{name: "TCP port taken on all addresses", pod: withPort(pod("p", "", ""), "", corev1.ProtocolTCP, 8080),
			wantNodes: map[string]string{"any-ip": reason, "one-ip": "", "free": ""}},
		{name: "UDP on another address", pod: withPort(pod("p", "", ""), "10.0.0.2", corev1.ProtocolUDP, 8080),
			wantNodes: map[string]string{"any-ip": "", "one-ip": "", "free": ""}},
		{name: "UDP on all addresses clashes with one", pod: withPort(pod("p", "", ""), "", corev1.ProtocolUDP, 8080),
			wantNodes: map[string]string{"any-ip": "", "one-ip": reason, "free": ""}},
	})
}

func podTerm(key, value, topologyKey string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}, TopologyKey: topologyKey}
}

func TestInterPodAffinityFilter(t *testing.T) {
	nodes := []*corev1.Node{
		node("a", "4", "8Gi", corev1.LabelTopologyZone, "z1"),
		node("b", "4", "8Gi", corev1.LabelTopologyZone, "z1"),
		node("c", "4", "8Gi", corev1.LabelTopologyZone, "z2"),
		node("d", "4", "8Gi"),
	}
	guard := pod("guard", "", "")
	guard.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{podTerm("app", "web", corev1.LabelTopologyZone)}}}
	other := pod("db-other", "", "", "app", "db")
	other.Namespace = "team-b"
	existing := []*corev1.Pod{on(pod("db", "", "", "app", "db"), "a"), on(guard, "c"), on(other, "d")}
	objects := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{"team": "b"}}}}

	withAffinity := func(p *corev1.Pod, affinity, anti []corev1.PodAffinityTerm) *corev1.Pod {
		p.Spec.Affinity = &corev1.Affinity{}
		if affinity != nil {
			p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: affinity}
		}
		if anti != nil {
			p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: anti}
		}
		return p
	}
	inNamespaces := func(term corev1.PodAffinityTerm, selector *metav1.LabelSelector, names ...string) corev1.PodAffinityTerm {
		term.NamespaceSelector, term.Namespaces = selector, names
		return term
	}
	const (
		affinity     = "node(s) didn't match pod affinity rules"
		anti         = "node(s) didn't match pod anti-affinity rules"
		existingAnti = "node(s) didn't satisfy existing pods anti-affinity rules"
	)
	runFilterCases(t, interPodAffinity{}, nodes, existing, objects, []filterCase{
		{name: "affinity to a zone with a match", pod: withAffinity(pod("p", "", ""), []corev1.PodAffinityTerm{podTerm("app", "db", corev1.LabelTopologyZone)}, nil),
			wantNodes: map[string]string{"a": "", "b": "", "c": affinity, "d": affinity}},
		{name: "anti-affinity to a host with a match", pod: withAffinity(pod("p", "", ""), nil, []corev1.PodAffinityTerm{podTerm("app", "db", corev1.LabelHostname)}),
			wantNodes: map[string]string{"a": anti, "b": "", "c": "", "d": ""}},
		{name: "running pods' anti-affinity repels", pod: pod("p", "", "", "app", "web"),
			wantNodes: map[string]string{"a": "", "b": "", "c": existingAnti, "d": ""}},
		{name: "the first pod of a group that selects itself goes anywhere with the key",
			pod:       withAffinity(pod("p", "", "", "app", "cache"), []corev1.PodAffinityTerm{podTerm("app", "cache", corev1.LabelTopologyZone)}, nil),
			wantNodes: map[string]string{"a": "", "b": "", "c": "", "d": affinity}},
		{name: "terms look in the pod's namespace by default",
			pod:       withAffinity(pod("p", "", ""), []corev1.PodAffinityTerm{podTerm("app", "db", corev1.LabelHostname)}, nil),
			wantNodes: map[string]string{"a": "", "b": affinity, "c": affinity, "d": affinity}},
		{name: "listed namespaces",
			pod:       withAffinity(pod("p", "", ""), []corev1.PodAffinityTerm{inNamespaces(podTerm("app", "db", corev1.LabelHostname), nil, "team-b")}, nil),
			wantNodes: map[string]string{"a": affinity, "b": affinity, "c": affinity, "d": ""}},
		{name: "namespace selector",
			pod: withAffinity(pod("p", "", ""), []corev1.PodAffinityTerm{inNamespaces(podTerm("app", "db", corev1.LabelHostname),
				&metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}})}, nil),
			wantNodes: map[string]string{"a": affinity, "b": affinity, "c": affinity, "d": ""}},
		{name: "an empty namespace selector selects every namespace",
			pod: withAffinity(pod("p", "", ""), nil, []corev1.PodAffinityTerm{inNamespaces(podTerm("app", "db", corev1.LabelHostname),
				&metav1.LabelSelector{})}),
			wantNodes: map[string]string{"a": anti, "b": "", "c": "", "d": anti}},
	})
}

func TestInterPodAffinityScore(t *testing.T) {
	nodes := []*corev1.Node{
		node("a", "4", "8Gi", corev1.LabelTopologyZone, "z1"),
		node("b", "4", "8Gi", corev1.LabelTopologyZone, "z2"),
		node("c", "4", "8Gi", corev1.LabelTopologyZone, "z3"),
	}
	fan := pod("fan", "", "")
	fan.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
		{Weight: 20, PodAffinityTerm: podTerm("app", "star", corev1.LabelTopologyZone)}}}}
	existing := []*corev1.Pod{on(pod("db", "", "", "app", "db"), "a"), on(pod("web", "", "", "app", "web"), "b"), on(fan, "c")}
	c := newCluster(t, nodes, existing)

	p := pod("p", "", "")
	p.Spec.Affinity = &corev1.Affinity{
		PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			{Weight: 10, PodAffinityTerm: podTerm("app", "db", corev1.LabelTopologyZone)}}},
		PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			{Weight: 5, PodAffinityTerm: podTerm("app", "web", corev1.LabelTopologyZone)}}},
	}
	// a: +10, b: -5, c: 0, mapped from -5..10 onto 0..100.
	want := map[string]int64{"a": 100, "b": 0, "c": 33}
	if got := c.score(interPodAffinity{}, p); !maps.Equal(got, want) {
		t.Errorf("scores for the pod's own preferences = %v, want %v", got, want)
	}
	// The running fan prefers the pod in its zone.
	want = map[string]int64{"a": 0, "b": 0, "c": 100}
	if got := c.score(interPodAffinity{}, pod("star", "", "", "app", "star")); !maps.Equal(got, want) {
		t.Errorf("scores for a pod running pods prefer = %v, want %v", got, want)
	}
}

func spreadPod(name string, maxSkew int32, key string, action corev1.UnsatisfiableConstraintAction, edit ...func(*corev1.TopologySpreadConstraint)) *corev1.Pod {
	p := pod(name, "", "", "app", "s")
	tc := corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: action,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "s"}}}
	for _, e := range edit {
		e(&tc)
	}
	p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{tc}
	return p
}

func TestPodTopologySpreadFilter(t *testing.T) {
	zoned := []*corev1.Node{
		node("a", "4", "8Gi", corev1.LabelTopologyZone, "z1"),
		node("b", "4", "8Gi", corev1.LabelTopologyZone, "z2", "pool", "x"),
		node("c", "4", "8Gi", corev1.LabelTopologyZone, "z3", "pool", "x"),
		node("unlabelled", "4", "8Gi"),
	}
	s := func(name, nodeName string) *corev1.Pod { return on(pod(name, "", "", "app", "s"), nodeName) }
	const (
		skew    = "node(s) didn't match pod topology spread constraints"
		missing = "node(s) didn't match pod topology spread constraints (missing required label)"
	)
	t.Run("skew", func(t *testing.T) {
		runFilterCases(t, podTopologySpread{}, zoned, []*corev1.Pod{s("1", "a"), s("2", "a"), s("3", "b")}, nil, []filterCase{
			{name: "maxSkew 1", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule),
				wantNodes: map[string]string{"a": skew, "b": skew, "c": "", "unlabelled": missing}},
			{name: "maxSkew 2", pod: spreadPod("p", 2, corev1.LabelTopologyZone, corev1.DoNotSchedule),
				wantNodes: map[string]string{"a": skew, "b": "", "c": "", "unlabelled": missing}},
			{name: "ScheduleAnyway does not filter", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.ScheduleAnyway),
				wantNodes: map[string]string{"a": "", "b": "", "c": "", "unlabelled": ""}},
			{name: "pods the selector does not match do not count", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule,
				func(tc *corev1.TopologySpreadConstraint) { tc.LabelSelector.MatchLabels["app"] = "other" }),
				wantNodes: map[string]string{"a": "", "b": "", "c": "", "unlabelled": missing}},
		})
	})
	t.Run("minDomains", func(t *testing.T) {
		runFilterCases(t, podTopologySpread{}, zoned, []*corev1.Pod{s("1", "a"), s("2", "a"), s("3", "b"), s("4", "c")}, nil, []filterCase{
			{name: "enough domains: the fewest is 1", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule),
				wantNodes: map[string]string{"a": skew, "b": "", "c": "", "unlabelled": missing}},
			{name: "fewer domains than minDomains: the fewest counts as 0", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule,
				func(tc *corev1.TopologySpreadConstraint) { tc.MinDomains = ptr.To(int32(4)) }),
				wantNodes: map[string]string{"a": skew, "b": skew, "c": skew, "unlabelled": missing}},
		})
	})
	t.Run("node inclusion policies", func(t *testing.T) {
		inPool := func(p *corev1.Pod) *corev1.Pod {
			p.Spec.NodeSelector = map[string]string{"pool": "x"}
			return p
		}
		tainted := append([]*corev1.Node{withTaints(node("a", "4", "8Gi", corev1.LabelTopologyZone, "z1"),
			corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})}, zoned[1:3]...)
		existing := []*corev1.Pod{s("1", "b"), s("2", "c")}
		runFilterCases(t, podTopologySpread{}, zoned[:3], existing, nil, []filterCase{
			{name: "nodes outside the pod's node affinity do not count", pod: inPool(spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule)),
				wantNodes: map[string]string{"a": "", "b": "", "c": ""}},
			{name: "unless nodeAffinityPolicy is Ignore", pod: inPool(spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule,
				func(tc *corev1.TopologySpreadConstraint) {
					tc.NodeAffinityPolicy = ptr.To(corev1.NodeInclusionPolicyIgnore)
				})),
				wantNodes: map[string]string{"a": "", "b": skew, "c": skew}},
		})
		runFilterCases(t, podTopologySpread{}, tainted, existing, nil, []filterCase{
			{name: "tainted nodes count by default", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule),
				wantNodes: map[string]string{"a": "", "b": skew, "c": skew}},
			{name: "unless nodeTaintsPolicy is Honor", pod: spreadPod("p", 1, corev1.LabelTopologyZone, corev1.DoNotSchedule,
				func(tc *corev1.TopologySpreadConstraint) {
					tc.NodeTaintsPolicy = ptr.To(corev1.NodeInclusionPolicyHonor)
				}),
				wantNodes: map[string]string{"a": "", "b": "", "c": ""}},
		})
	})
}

func TestPodTopologySpreadScore(t *testing.T) {
	nodes := []*corev1.Node{node("a", "4", "8Gi"), node("b", "4", "8Gi"), node("c", "4", "8Gi")}
	owned := func(p *corev1.Pod) *corev1.Pod {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}}
		return p
	}
	existing := []*corev1.Pod{on(owned(pod("1", "", "", "app", "s")), "a"), on(owned(pod("2", "", "", "app", "s")), "a"), on(owned(pod("3", "", "", "app", "s")), "b")}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "s"}}}}
	c := newCluster(t, nodes, existing, rs)

	// Per host: 2, 1 and 0 matching pods, weighted by log(3 hosts + 2) and mapped so fewer is better.
	want := map[string]int64{"a": 0, "b": 33, "c": 100}
	if got := c.score(podTopologySpread{}, spreadPod("p", 1, corev1.LabelHostname, corev1.ScheduleAnyway)); !maps.Equal(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	// Without constraints of its own, a ReplicaSet's pod spreads by the system defaults (hostname
	// with maxSkew 3; these nodes have no zone).
	want = map[string]int64{"a": 40, "b": 60, "c": 100}
	if got := c.score(podTopologySpread{}, owned(pod("p", "", "", "app", "s"))); !maps.Equal(got, want) {
		t.Errorf("default spreading scores = %v, want %v", got, want)
	}
	if got := c.score(podTopologySpread{}, pod("p", "", "", "app", "s")); got != nil {
		t.Errorf("pod of no Service or controller scored %v, want skipped", got)
	}
}

func TestVolumeBinding(t *testing.T) {
	nodes := []*corev1.Node{node("a", "4", "8Gi", "rack", "r1"), node("b", "4", "8Gi", "rack", "r2")}
	wait, immediate := storagev1.VolumeBindingWaitForFirstConsumer, storagev1.VolumeBindingImmediate
	onRack := func(rack string) *corev1.VolumeNodeAffinity {
		return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "rack", Operator: corev1.NodeSelectorOpIn, Values: []string{rack}}}}}}}
	}
	claim := func(name, class, volume string) *corev1.PersistentVolumeClaim {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: apitypes.UID("uid-" + name)},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class), VolumeName: volume,
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}
		if volume != "" {
			pvc.Status.Phase = corev1.ClaimBound
		}
		return pvc
	}
	volume := func(name, class, rack string, claimRef *corev1.ObjectReference) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{StorageClassName: class, NodeAffinity: onRack(rack), ClaimRef: claimRef,
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
		}
	}
	objects := []client.Object{
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "wait"}, Provisioner: "example.com/p", VolumeBindingMode: &wait,
			AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: "rack", Values: []string{"r2"}}}}}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "static"}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &wait},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "immediate"}, Provisioner: "example.com/p", VolumeBindingMode: &immediate},
		volume("pv-bound", "immediate", "r1", &corev1.ObjectReference{Name: "bound", Namespace: "default"}),
		volume("local-b", "static", "r2", nil),
		claim("bound", "immediate", "pv-bound"),
		claim("waiting", "wait", ""),
		claim("static-claim", "static", ""),
		claim("unbound", "immediate", ""),
		claim("ghost", "immediate", "no-such-pv"),
		func() client.Object {
			c := claim("lost", "immediate", "gone")
			c.Status.Phase = corev1.ClaimLost
			return c
		}(),
	}
	using := func(claims ...string) *corev1.Pod {
		p := pod("p", "", "")
		for _, c := range claims {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
		}
		return p
	}
	const conflict = "node(s) didn't find available persistent volumes to bind"
	plugin := volumeBinding{assumed: newPVAssumptions()}
	runFilterCases(t, plugin, nodes, nil, objects, []filterCase{
		{name: "no claims", pod: pod("p", "", ""), wantNodes: map[string]string{"a": "", "b": ""}},
		{name: "bound volume's node affinity", pod: using("bound"), wantNodes: map[string]string{"a": "", "b": "node(s) had volume node affinity conflict"}},
		{name: "provisioning within the class's allowed topology", pod: using("waiting"), wantNodes: map[string]string{"a": conflict, "b": ""}},
		{name: "available volume on the node", pod: using("static-claim"), wantNodes: map[string]string{"a": conflict, "b": ""}},
		{name: "all claims at once", pod: using("bound", "waiting"), wantNodes: map[string]string{"a": conflict, "b": "node(s) had volume node affinity conflict"}},
		{name: "claim bound to a missing volume", pod: using("ghost"), wantNodes: map[string]string{
			"a": "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)", "b": "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"}},
		{name: "unbound claim of an Immediate class", pod: using("bound", "unbound"), wantPre: "pod has unbound immediate PersistentVolumeClaims"},
		{name: "missing claim", pod: using("nope"), wantPre: `persistentvolumeclaim "nope" not found`},
		{name: "lost claim", pod: using("lost"), wantPre: `persistentvolumeclaim "lost" bound to non-existent persistentvolume "gone"`},
	})

	c := newCluster(t, nodes, nil, objects...)
	cy := c.cycle(using("static-claim", "waiting"))
	if _, st := plugin.preFilter(cy); st != nil {
		t.Fatalf("preFilter: %v", st.message())
	}
	plan, ok := cy.volumes.plan(c.snap.nodes["b"].node)
	if !ok || len(plan.static) != 1 || plan.static[0].pv.Name != "local-b" || len(plan.provision) != 1 || plan.provision[0].Name != "waiting" {
		t.Errorf("plan on b = %+v (ok %v), want local-b bound to static-claim and waiting provisioned", plan, ok)
	}

	// A volume promised to another claim is not available.
	plugin.assumed.assume("local-b", "uid-other")
	runFilterCases(t, plugin, nodes, nil, objects, []filterCase{
		{name: "volume promised to another claim", pod: using("static-claim"), wantNodes: map[string]string{"a": conflict, "b": conflict}},
	})
}
