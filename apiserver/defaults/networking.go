package defaults

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

// Ingress has nothing to default; in particular a path's pathType has no default, validation requires it.
func Ingress(obj *networkingv1.Ingress) {}

// IngressClass defaults the scope of the parameters reference to Cluster.
func IngressClass(obj *networkingv1.IngressClass) {
	if p := obj.Spec.Parameters; p != nil && p.Scope == nil {
		p.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

// NetworkPolicy derives the policy types when none are given (Ingress always, Egress when there are egress
// rules) and defaults the protocol of every port to TCP.
func NetworkPolicy(obj *networkingv1.NetworkPolicy) {
	spec := &obj.Spec
	for i := range spec.Ingress {
		networkPolicyPorts(spec.Ingress[i].Ports)
	}
	for i := range spec.Egress {
		networkPolicyPorts(spec.Egress[i].Ports)
	}
	if len(spec.PolicyTypes) == 0 {
		spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(spec.Egress) != 0 {
			spec.PolicyTypes = append(spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
}

func networkPolicyPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			ports[i].Protocol = ptr.To(corev1.ProtocolTCP)
		}
	}
}
