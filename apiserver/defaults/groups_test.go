package defaults

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestEndpointSliceDefaults(t *testing.T) {
	check(t, EndpointSlice,
		&discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{
			{Port: ptr.To(int32(80))},
			{Name: ptr.To("dns"), Port: ptr.To(int32(53)), Protocol: ptr.To(corev1.ProtocolUDP)},
		}},
		&discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To(""), Port: ptr.To(int32(80)), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("dns"), Port: ptr.To(int32(53)), Protocol: ptr.To(corev1.ProtocolUDP)},
		}})
}

func TestNetworkingDefaults(t *testing.T) {
	port := func(p int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(p))}
	}
	tcp := func(p int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(p)), Protocol: ptr.To(corev1.ProtocolTCP)}
	}
	ingress, egress := networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress
	tests := []struct {
		name string
		in   networkingv1.NetworkPolicySpec
		want networkingv1.NetworkPolicySpec
	}{
		{
			name: "a policy without rules is about ingress",
			in:   networkingv1.NetworkPolicySpec{},
			want: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{ingress}},
		},
		{
			name: "egress rules make it about egress too, ports are TCP",
			in: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{port(80)}}},
				Egress:  []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{port(53)}}},
			},
			want: networkingv1.NetworkPolicySpec{
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{tcp(80)}}},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{tcp(53)}}},
				PolicyTypes: []networkingv1.PolicyType{ingress, egress},
			},
		},
		{
			name: "set policy types and protocols are kept",
			in: networkingv1.NetworkPolicySpec{
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP)}}}},
				PolicyTypes: []networkingv1.PolicyType{egress},
			},
			want: networkingv1.NetworkPolicySpec{
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP)}}}},
				PolicyTypes: []networkingv1.PolicyType{egress},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, NetworkPolicy, &networkingv1.NetworkPolicy{Spec: tt.in}, &networkingv1.NetworkPolicy{Spec: tt.want})
		})
	}
	t.Run("ingress class parameters are cluster-scoped unless said otherwise", func(t *testing.T) {
		ref := func(scope *string) *networkingv1.IngressClassParametersReference {
			return &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "c", Scope: scope}
		}
		check(t, IngressClass,
			&networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: ref(nil)}},
			&networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: ref(ptr.To("Cluster"))}})
		check(t, IngressClass,
			&networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: ref(ptr.To("Namespace"))}},
			&networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: ref(ptr.To("Namespace"))}})
	})
	t.Run("an ingress path type is not defaulted", func(t *testing.T) {
		ing := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/"}}}},
		}}}}
		check(t, Ingress, ing.DeepCopy(), ing)
	})
}

func TestRBACDefaults(t *testing.T) {
	in := func() ([]rbacv1.Subject, rbacv1.RoleRef) {
		return []rbacv1.Subject{
				{Kind: rbacv1.UserKind, Name: "alice"},
				{Kind: rbacv1.GroupKind, Name: "devs"},
				{Kind: rbacv1.ServiceAccountKind, Name: "bot", Namespace: "ci"},
			},
			rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}
	}
	wantSubjects := []rbacv1.Subject{
		{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"},
		{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"},
		{Kind: rbacv1.ServiceAccountKind, Name: "bot", Namespace: "ci"},
	}
	wantRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}

	t.Run("role bindings name the RBAC group for users, groups and the role", func(t *testing.T) {
		subjects, ref := in()
		check(t, RoleBinding, &rbacv1.RoleBinding{Subjects: subjects, RoleRef: ref}, &rbacv1.RoleBinding{Subjects: wantSubjects, RoleRef: wantRef})
	})
	t.Run("cluster role bindings too", func(t *testing.T) {
		subjects, ref := in()
		check(t, ClusterRoleBinding, &rbacv1.ClusterRoleBinding{Subjects: subjects, RoleRef: ref},
			&rbacv1.ClusterRoleBinding{Subjects: wantSubjects, RoleRef: wantRef})
	})
	t.Run("roles are left as written", func(t *testing.T) {
		role := &rbacv1.Role{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}}}}
		check(t, Role, role.DeepCopy(), role)
		clusterRole := &rbacv1.ClusterRole{Rules: role.Rules}
		check(t, ClusterRole, clusterRole.DeepCopy(), clusterRole)
	})
}

func TestStorageClassDefaults(t *testing.T) {
	check(t, StorageClass,
		&storagev1.StorageClass{Provisioner: "skiff.dev/local-path"},
		&storagev1.StorageClass{
			Provisioner:       "skiff.dev/local-path",
			ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
		})
	sc := &storagev1.StorageClass{
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimRetain),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	check(t, StorageClass, sc.DeepCopy(), sc)
}

func TestPriorityClassDefaults(t *testing.T) {
	check(t, PriorityClass,
		&schedulingv1.PriorityClass{Value: 1000},
		&schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority)})
	pc := &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: ptr.To(corev1.PreemptNever)}
	check(t, PriorityClass, pc.DeepCopy(), pc)
}

func TestKindsWithoutDefaultsAreLeftAsWritten(t *testing.T) {
	pdb := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1))}}
	check(t, PodDisruptionBudget, pdb.DeepCopy(), pdb)
	lease := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-a")}}
	check(t, Lease, lease.DeepCopy(), lease)
}
