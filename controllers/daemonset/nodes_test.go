package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// newDS is a DaemonSet "agent" as the API defaults it: RollingUpdate with maxUnavailable 1.
func newDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 2},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0)),
				},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

func newNode(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestNodeShouldRun(t *testing.T) {
	tests := []struct {
		name                    string
		mutate                  func(*appsv1.DaemonSet)
		node                    *corev1.Node
		shouldRun, shouldRemain bool
	}{
		{"any node fits a plain template", nil, newNode("n1", nil), true, true},
		{"the node selector must match", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "edge"}
		}, newNode("n1", map[string]string{"role": "core"}), false, false},
		{"a matching node selector fits", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "edge"}
		}, newNode("n1", map[string]string{"role": "edge"}), true, true},
		{"the required node affinity must match", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}},
				}}},
			}}
		}, newNode("n1", map[string]string{"zone": "c"}), false, false},
		{"a template naming another node fits none else", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeName = "n2"
		}, newNode("n1", nil), false, false},
		{"an untolerated NoSchedule taint keeps new pods away but not running ones", nil,
			newNode("n1", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"an untolerated NoExecute taint evicts", nil,
			newNode("n1", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}), false, false},
		{"a tolerated taint fits", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db"}}
		}, newNode("n1", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}), true, true},
		{"daemons tolerate a cordoned node", nil,
			newNode("n1", nil, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"daemons tolerate a node that is not ready", nil,
			newNode("n1", nil, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"daemons tolerate memory pressure", nil,
			newNode("n1", nil, corev1.Taint{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"without a pod network only host-network daemons fit", nil,
			newNode("n1", nil, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"host-network daemons tolerate a missing pod network", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.HostNetwork = true
		}, newNode("n1", nil, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDS()
			if tc.mutate != nil {
				tc.mutate(ds)
			}
			shouldRun, shouldRemain := nodeShouldRun(ds, tc.node)
			if shouldRun != tc.shouldRun || shouldRemain != tc.shouldRemain {
				t.Errorf("shouldRun, shouldContinueRunning = %v, %v; want %v, %v", shouldRun, shouldRemain, tc.shouldRun, tc.shouldRemain)
			}
		})
	}
}

func TestAddDaemonTolerationsMakesThemPermanent(t *testing.T) {
	spec := &corev1.PodSpec{Tolerations: []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: "own", Operator: corev1.TolerationOpExists},
	}}
	addDaemonTolerations(spec)
	if len(spec.Tolerations) != 7 {
		t.Fatalf("%d tolerations, want the own one and the 6 daemon ones: %+v", len(spec.Tolerations), spec.Tolerations)
	}
	if spec.Tolerations[0].TolerationSeconds != nil {
		t.Errorf("not-ready toleration still expires after %d s", *spec.Tolerations[0].TolerationSeconds)
	}
	addDaemonTolerations(spec)
	if len(spec.Tolerations) != 7 {
		t.Errorf("adding twice gives %d tolerations", len(spec.Tolerations))
	}
	host := &corev1.PodSpec{HostNetwork: true}
	addDaemonTolerations(host)
	if len(host.Tolerations) != 7 || host.Tolerations[6].Key != corev1.TaintNodeNetworkUnavailable {
		t.Errorf("host network tolerations %+v, want the network-unavailable one too", host.Tolerations)
	}
}

func TestNewPodIsBoundToItsNodeByAffinity(t *testing.T) {
	ds := newDS()
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "fast", Operator: corev1.NodeSelectorOpExists}}}}}
	ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}}},
		PreferredDuringSchedulingIgnoredDuringExecution: preferred,
	}}
	pod := newPod(ds, podTemplate(ds, "h1"), "n7")
	if pod.GenerateName != "agent-" || pod.Namespace != "ns" || pod.Spec.NodeName != "" {
		t.Errorf("generateName %q namespace %q nodeName %q", pod.GenerateName, pod.Namespace, pod.Spec.NodeName)
	}
	if pod.Labels["app"] != "agent" || pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "h1" {
		t.Errorf("labels %v, want the template's and the revision hash", pod.Labels)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != "ds-uid" || ref.Kind != "DaemonSet" {
		t.Errorf("controller %+v", ref)
	}
	terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" ||
		terms[0].MatchFields[0].Values[0] != "n7" || len(terms[0].MatchExpressions) != 0 {
		t.Errorf("required terms %+v, want only metadata.name in [n7]", terms)
	}
	if len(pod.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Error("preferred terms lost")
	}
	if node, err := targetNode(pod); err != nil || node != "n7" {
		t.Errorf("target node %q, %v", node, err)
	}
	if len(pod.Spec.Tolerations) != 6 {
		t.Errorf("%d tolerations, want the daemon ones", len(pod.Spec.Tolerations))
	}
	if ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions == nil ||
		len(ds.Spec.Template.Spec.Tolerations) != 0 || ds.Spec.Template.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "" {
		t.Error("making a pod changed the DaemonSet's template")
	}
}

func TestTargetNode(t *testing.T) {
	bound := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", Affinity: bindToNode(nil, "n2")}}
	if node, _ := targetNode(bound); node != "n1" {
		t.Errorf("a bound pod's node is %q, want its spec.nodeName n1", node)
	}
	for name, pod := range map[string]*corev1.Pod{
		"no affinity": {},
		"several names": {Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}}}}}}}},
		"no name field": {Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}}},
	} {
		if node, err := targetNode(pod); err == nil {
			t.Errorf("%s: target node %q, want an error", name, node)
		}
	}
}
