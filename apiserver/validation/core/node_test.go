package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1.example", ResourceVersion: "1", Labels: map[string]string{"kubernetes.io/hostname": "node-1"}},
		Spec: corev1.NodeSpec{
			PodCIDR:  "10.42.1.0/24",
			PodCIDRs: []string{"10.42.1.0/24"},
			Taints:   []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3800m"), corev1.ResourcePods: resource.MustParse("110")},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.5"}, {Type: corev1.NodeHostName, Address: "node-1"}},
		},
	}
}

func TestValidateNode(t *testing.T) {
	runCases(t, validNode, ValidateNode, []tcase[corev1.Node]{
		{name: "valid node passes"},
		{name: "node without pod CIDR passes", mutate: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil }},
		{name: "dual-stack pod CIDRs pass", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.1.0/24", "fd00:42:1::/64"} }},
		{name: "name is a DNS subdomain", mutate: func(n *corev1.Node) { n.Name = "Node_1" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "nodes have no namespace", mutate: func(n *corev1.Node) { n.Namespace = "default" }, typ: field.ErrorTypeForbidden, field: "metadata.namespace"},
		{name: "podCIDR is a CIDR", mutate: func(n *corev1.Node) { n.Spec.PodCIDR = "10.42.1.0"; n.Spec.PodCIDRs = nil },
			typ: field.ErrorTypeInvalid, field: "spec.podCIDR"},
		{name: "podCIDRs are CIDRs", mutate: func(n *corev1.Node) { n.Spec.PodCIDR = ""; n.Spec.PodCIDRs = []string{"10.42.1.1/24"} },
			typ: field.ErrorTypeInvalid, field: "spec.podCIDRs[0]"},
		{name: "podCIDR mirrors podCIDRs", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.2.0/24"} },
			typ: field.ErrorTypeInvalid, field: "spec.podCIDRs"},
		{name: "one pod CIDR per family", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.1.0/24", "10.42.2.0/24"} },
			typ: field.ErrorTypeInvalid, field: "spec.podCIDRs", detail: "may specify no more than one CIDR for each IP family"},
		{name: "taint key is a qualified name", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Key = "bad key" },
			typ: field.ErrorTypeInvalid, field: "spec.taints[0].key"},
		{name: "taint effect is required", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" },
			typ: field.ErrorTypeRequired, field: "spec.taints[0].effect"},
		{name: "taint effect is an enum", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Effect = "NoAdmit" },
			typ: field.ErrorTypeNotSupported, field: "spec.taints[0].effect"},
		{name: "taint value is a label value", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Value = "a b" },
			typ: field.ErrorTypeInvalid, field: "spec.taints[0].value"},
		{name: "taints are unique by key and effect", mutate: func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) },
			typ: field.ErrorTypeDuplicate, field: "spec.taints[1]"},
		{name: "same key with another effect passes", mutate: func(n *corev1.Node) {
			t := n.Spec.Taints[0]
			t.Effect = corev1.TaintEffectNoExecute
			n.Spec.Taints = append(n.Spec.Taints, t)
		}},
		{name: "capacity is not negative", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1") },
			typ: field.ErrorTypeInvalid, field: "status.capacity.cpu"},
		{name: "pod capacity is whole", mutate: func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("1500m") },
			typ: field.ErrorTypeInvalid, field: "status.allocatable.pods"},
		{name: "taints annotation is JSON", mutate: func(n *corev1.Node) { n.Annotations = map[string]string{corev1.TaintsAnnotationKey: "["} },
			typ: field.ErrorTypeInvalid, field: "metadata.annotations"},
	})
}

func TestValidateNodeUpdate(t *testing.T) {
	runUpdateCases(t, validNode, ValidateNodeUpdate, []ucase[corev1.Node]{
		{name: "taints may change", change: func(n *corev1.Node) { n.Spec.Taints = nil }},
		{name: "unschedulable may change", change: func(n *corev1.Node) { n.Spec.Unschedulable = true }},
		{name: "pod CIDR may be assigned once", setup: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil },
			change: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.3.0/24", []string{"10.42.3.0/24"} }},
		{name: "pod CIDR may not change", change: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.3.0/24", []string{"10.42.3.0/24"} },
			typ: field.ErrorTypeForbidden, field: "spec.podCIDRs"},
		{name: "provider ID may be set once", change: func(n *corev1.Node) { n.Spec.ProviderID = "skiff://node-1" }},
		{name: "provider ID may not change", setup: func(n *corev1.Node) { n.Spec.ProviderID = "skiff://node-1" },
			change: func(n *corev1.Node) { n.Spec.ProviderID = "skiff://node-2" }, typ: field.ErrorTypeForbidden, field: "spec.providerID"},
		{name: "addresses are unique", change: func(n *corev1.Node) { n.Status.Addresses = append(n.Status.Addresses, n.Status.Addresses[0]) },
			typ: field.ErrorTypeDuplicate, field: "status.addresses[2]"},
		{name: "external ID is immutable", change: func(n *corev1.Node) { n.Spec.DoNotUseExternalID = "x" }, typ: field.ErrorTypeForbidden, field: "spec.externalID"},
		{name: "new taints are validated", change: func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, typ: field.ErrorTypeRequired, field: "spec.taints[0].effect"},
	})
	runUpdateCases(t, validNode, ValidateNodeStatusUpdate, []ucase[corev1.Node]{
		{name: "conditions may be reported", change: func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		}},
		{name: "status capacity is validated", change: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse("-1") },
			typ: field.ErrorTypeInvalid, field: "status.capacity.memory"},
	})
}
