package groups

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	coordinationvalidation "github.com/skiffhq/skiff/apiserver/validation/coordination"
	discoveryvalidation "github.com/skiffhq/skiff/apiserver/validation/discovery"
	networkingvalidation "github.com/skiffhq/skiff/apiserver/validation/networking"
	policyvalidation "github.com/skiffhq/skiff/apiserver/validation/policy"
	rbacvalidation "github.com/skiffhq/skiff/apiserver/validation/rbac"
	schedulingvalidation "github.com/skiffhq/skiff/apiserver/validation/scheduling"
	storagevalidation "github.com/skiffhq/skiff/apiserver/validation/storage"
)

func coordination(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, coordinationv1.SchemeGroupVersion, &registry.Resource{
		Resource: "leases", Singular: "lease", Kind: "Lease", Namespaced: true, AllowCreateOnUpdate: true,
		New:     func() runtime.Object { return &coordinationv1.Lease{} },
		NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
		Policy: registry.Typed(defaults.Lease, coordinationvalidation.ValidateLease,
			coordinationvalidation.ValidateLeaseUpdate, nil),
	})
	return g, err
}

func discovery(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, discoveryv1.SchemeGroupVersion, &registry.Resource{
		Resource: "endpointslices", Singular: "endpointslice", Kind: "EndpointSlice", Namespaced: true,
		Generation: true,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Policy: registry.Typed(defaults.EndpointSlice, discoveryvalidation.ValidateEndpointSlice,
			discoveryvalidation.ValidateEndpointSliceUpdate, nil),
	})
	return g, err
}

func policy(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, policyv1.SchemeGroupVersion, &registry.Resource{
		Resource: "poddisruptionbudgets", Singular: "poddisruptionbudget", Kind: "PodDisruptionBudget",
		ShortNames: []string{"pdb"}, Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		Policy: registry.Typed(defaults.PodDisruptionBudget, policyvalidation.ValidatePodDisruptionBudget,
			policyvalidation.ValidatePodDisruptionBudgetUpdate, policyvalidation.ValidatePodDisruptionBudgetStatusUpdate),
	})
	return g, err
}

func storage(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, storagev1.SchemeGroupVersion, &registry.Resource{
		Resource: "storageclasses", Singular: "storageclass", Kind: "StorageClass", ShortNames: []string{"sc"},
		New:     func() runtime.Object { return &storagev1.StorageClass{} },
		NewList: func() runtime.Object { return &storagev1.StorageClassList{} },
		Policy: registry.Typed(defaults.StorageClass, storagevalidation.ValidateStorageClass,
			storagevalidation.ValidateStorageClassUpdate, nil),
	})
	return g, err
}

func scheduling(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, schedulingv1.SchemeGroupVersion, &registry.Resource{
		Resource: "priorityclasses", Singular: "priorityclass", Kind: "PriorityClass", ShortNames: []string{"pc"},
		New:     func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList: func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Policy: registry.Typed(defaults.PriorityClass, schedulingvalidation.ValidatePriorityClass,
			schedulingvalidation.ValidatePriorityClassUpdate, nil),
	})
	return g, err
}

func rbac(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, rbacv1.SchemeGroupVersion,
		&registry.Resource{
			Resource: "roles", Singular: "role", Kind: "Role", Namespaced: true, AllowCreateOnUpdate: true,
			New:     func() runtime.Object { return &rbacv1.Role{} },
			NewList: func() runtime.Object { return &rbacv1.RoleList{} },
			Policy:  registry.Typed(defaults.Role, rbacvalidation.ValidateRole, rbacvalidation.ValidateRoleUpdate, nil),
		},
		&registry.Resource{
			Resource: "clusterroles", Singular: "clusterrole", Kind: "ClusterRole", AllowCreateOnUpdate: true,
			New:     func() runtime.Object { return &rbacv1.ClusterRole{} },
			NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
			Policy: registry.Typed(defaults.ClusterRole, rbacvalidation.ValidateClusterRole,
				rbacvalidation.ValidateClusterRoleUpdate, nil),
		},
		&registry.Resource{
			Resource: "rolebindings", Singular: "rolebinding", Kind: "RoleBinding", Namespaced: true,
			AllowCreateOnUpdate: true,
			New:                 func() runtime.Object { return &rbacv1.RoleBinding{} },
			NewList:             func() runtime.Object { return &rbacv1.RoleBindingList{} },
			Policy: registry.Typed(defaults.RoleBinding, rbacvalidation.ValidateRoleBinding,
				rbacvalidation.ValidateRoleBindingUpdate, nil),
		},
		&registry.Resource{
			Resource: "clusterrolebindings", Singular: "clusterrolebinding", Kind: "ClusterRoleBinding",
			AllowCreateOnUpdate: true,
			New:                 func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
			NewList:             func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
			Policy: registry.Typed(defaults.ClusterRoleBinding, rbacvalidation.ValidateClusterRoleBinding,
				rbacvalidation.ValidateClusterRoleBindingUpdate, nil),
		},
	)
	return g, err
}

func networking(factory *registry.StorageFactory) (Group, error) {
	g, _, err := single(factory, networkingv1.SchemeGroupVersion,
		&registry.Resource{
			Resource: "ingresses", Singular: "ingress", Kind: "Ingress", ShortNames: []string{"ing"},
			Namespaced: true, Status: true, Generation: true,
			New:     func() runtime.Object { return &networkingv1.Ingress{} },
			NewList: func() runtime.Object { return &networkingv1.IngressList{} },
			Policy: registry.Typed(defaults.Ingress, networkingvalidation.ValidateIngress,
				networkingvalidation.ValidateIngressUpdate, networkingvalidation.ValidateIngressStatusUpdate),
		},
		&registry.Resource{
			Resource: "ingressclasses", Singular: "ingressclass", Kind: "IngressClass",
			New:     func() runtime.Object { return &networkingv1.IngressClass{} },
			NewList: func() runtime.Object { return &networkingv1.IngressClassList{} },
			Policy: registry.Typed(defaults.IngressClass, networkingvalidation.ValidateIngressClass,
				networkingvalidation.ValidateIngressClassUpdate, nil),
		},
		&registry.Resource{
			Resource: "networkpolicies", Singular: "networkpolicy", Kind: "NetworkPolicy", ShortNames: []string{"netpol"},
			Namespaced: true, Generation: true,
			New:     func() runtime.Object { return &networkingv1.NetworkPolicy{} },
			NewList: func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
			Policy: registry.Typed(defaults.NetworkPolicy, networkingvalidation.ValidateNetworkPolicy,
				networkingvalidation.ValidateNetworkPolicyUpdate, nil),
		},
	)
	return g, err
}
