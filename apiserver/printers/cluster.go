package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The annotations that make a storage class the default, the beta one still honoured.
const (
	defaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

func ingressTable() rowBuilder {
	c := newColumns()
	return &printer[*networkingv1.Ingress]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
			col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
			col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
			col("Ports", "string", "Ports of TLS configurations that open"),
			c.age(),
		},
		cells: func(ing *networkingv1.Ingress, now time.Time) []any {
			class := "<none>"
			if ing.Spec.IngressClassName != nil {
				class = *ing.Spec.IngressClassName
			}
			var addresses []string
			for _, in := range ing.Status.LoadBalancer.Ingress {
				addresses = append(addresses, firstNonEmpty(in.IP, in.Hostname))
			}
			ports := "80"
			if len(ing.Spec.TLS) != 0 {
				ports = "80, 443"
			}
			return []any{ing.Name, class, ingressHosts(ing.Spec.Rules), strings.Join(ingressAddresses(addresses), ","), ports, since(ing.CreationTimestamp, now)}
		},
	}
}

// ingressHosts lists the hosts of the first three rules that name one; "+ N more..." counts the
// rules beyond the third, whether or not they name a host.
func ingressHosts(rules []networkingv1.IngressRule) string {
	var list []string
	more := false
	for _, rule := range rules {
		if len(list) == 3 {
			more = true
		}
		if !more && rule.Host != "" {
			list = append(list, rule.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	if more {
		return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), len(rules)-3)
	}
	return strings.Join(list, ",")
}

func ingressClassTable() rowBuilder {
	c := newColumns()
	return &printer[*networkingv1.IngressClass]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Controller", "string", "Controller that is responsible for handling this class"),
			col("Parameters", "string", "A reference to a resource with additional parameters"),
			c.age(),
		},
		cells: func(ic *networkingv1.IngressClass, now time.Time) []any {
			name := ic.Name
			if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
				name += " (default)"
			}
			parameters := "<none>"
			if p := ic.Spec.Parameters; p != nil {
				parameters = p.Kind
				if p.APIGroup != nil {
					parameters += "." + *p.APIGroup
				}
				parameters += "/" + p.Name
			}
			return []any{name, ic.Spec.Controller, parameters, since(ic.CreationTimestamp, now)}
		},
	}
}

func networkPolicyTable() rowBuilder {
	c := newColumns()
	return &printer[*networkingv1.NetworkPolicy]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Pod-Selector", "string", extensionsv1beta1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
			c.age(),
		},
		cells: func(np *networkingv1.NetworkPolicy, now time.Time) []any {
			return []any{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), since(np.CreationTimestamp, now)}
		},
	}
}

func endpointSliceTable() rowBuilder {
	c := newColumns()
	slice := discoveryv1beta1.EndpointSlice{}.SwaggerDoc()
	return &printer[*discoveryv1.EndpointSlice]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("AddressType", "string", slice["addressType"]),
			col("Ports", "string", slice["ports"]),
			col("Endpoints", "string", slice["endpoints"]),
			c.age(),
		},
		cells: func(es *discoveryv1.EndpointSlice, now time.Time) []any {
			ports := make([]string, 0, len(es.Ports))
			for _, p := range es.Ports {
				switch {
				case p.Port != nil:
					ports = append(ports, strconv.Itoa(int(*p.Port)))
				case p.Name != nil:
					ports = append(ports, *p.Name)
				default:
					ports = append(ports, "*")
				}
			}
			var addresses []string
			for _, e := range es.Endpoints {
				addresses = append(addresses, e.Addresses...)
			}
			return []any{es.Name, string(es.AddressType), firstThree(ports), firstThree(addresses), since(es.CreationTimestamp, now)}
		},
	}
}

// firstThree joins the first three items and says how many more there are; <unset> for none.
func firstThree(items []string) string {
	switch {
	case len(items) == 0:
		return "<unset>"
	case len(items) > 3:
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:3], ","), len(items)-3)
	}
	return strings.Join(items, ",")
}

func leaseTable() rowBuilder {
	c := newColumns()
	return &printer[*coordinationv1.Lease]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
			c.age(),
		},
		cells: func(l *coordinationv1.Lease, now time.Time) []any {
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{l.Name, holder, since(l.CreationTimestamp, now)}
		},
	}
}

func storageClassTable() rowBuilder {
	c := newColumns()
	sc := storagev1.StorageClass{}.SwaggerDoc()
	return &printer[*storagev1.StorageClass]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Provisioner", "string", sc["provisioner"]),
			col("ReclaimPolicy", "string", sc["reclaimPolicy"]),
			col("VolumeBindingMode", "string", sc["volumeBindingMode"]),
			col("AllowVolumeExpansion", "string", sc["allowVolumeExpansion"]),
			c.age(),
		},
		cells: func(s *storagev1.StorageClass, now time.Time) []any {
			reclaim := string(corev1.PersistentVolumeReclaimDelete)
			if s.ReclaimPolicy != nil {
				reclaim = string(*s.ReclaimPolicy)
			}
			binding := string(storagev1.VolumeBindingImmediate)
			if s.VolumeBindingMode != nil {
				binding = string(*s.VolumeBindingMode)
			}
			expansion := s.AllowVolumeExpansion != nil && *s.AllowVolumeExpansion
			return []any{s.Name, s.Provisioner, reclaim, binding, expansion, since(s.CreationTimestamp, now)}
		},
		inList: markDefaultStorageClass,
	}
}

// markDefaultStorageClass marks the class that new claims get in a list: of those annotated as
// the default, the newest (the first by name among equals), as the admission plugin picks it.
// A class read alone is not marked: only the list can tell which default wins.
func markDefaultStorageClass(items []*storagev1.StorageClass, rows []metav1.TableRow) {
	chosen := -1
	for i, s := range items {
		if s.Annotations[defaultStorageClassAnnotation] != "true" && s.Annotations[betaDefaultStorageClassAnnotation] != "true" {
			continue
		}
		if chosen < 0 {
			chosen = i
			continue
		}
		best := items[chosen]
		if s.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(s.CreationTimestamp.Equal(&best.CreationTimestamp) && s.Name < best.Name) {
			chosen = i
		}
	}
	if chosen >= 0 {
		rows[chosen].Cells[0] = items[chosen].Name + " (default)"
	}
}

func priorityClassTable() rowBuilder {
	c := newColumns()
	pc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return &printer[*schedulingv1.PriorityClass]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Value", "integer", pc["value"]),
			col("Global-Default", "boolean", pc["globalDefault"]),
			c.age(),
			col("PreemptionPolicy", "string", pc["preemptionPolicy"]),
		},
		cells: func(p *schedulingv1.PriorityClass, now time.Time) []any {
			preemption := ""
			if p.PreemptionPolicy != nil {
				preemption = string(*p.PreemptionPolicy)
			}
			return []any{p.Name, int64(p.Value), p.GlobalDefault, since(p.CreationTimestamp, now), preemption}
		},
	}
}

func roleBindingTable() rowBuilder {
	return &printer[*rbacv1.RoleBinding]{
		columns: bindingColumns(rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"], "roleBinding"),
		cells: func(b *rbacv1.RoleBinding, now time.Time) []any {
			return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
		},
	}
}

func clusterRoleBindingTable() rowBuilder {
	return &printer[*rbacv1.ClusterRoleBinding]{
		columns: bindingColumns(rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"], "clusterRoleBinding"),
		cells: func(b *rbacv1.ClusterRoleBinding, now time.Time) []any {
			return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
		},
	}
}

func bindingColumns(roleRefDescription, kind string) []metav1.TableColumnDefinition {
	c := newColumns()
	return []metav1.TableColumnDefinition{
		c.name(),
		col("Role", "string", roleRefDescription),
		c.age(),
		wide("Users", "string", "Users in the "+kind),
		wide("Groups", "string", "Groups in the "+kind),
		wide("ServiceAccounts", "string", "ServiceAccounts in the "+kind),
	}
}

// bindingCells are a role binding's: the role it grants, and to whom.
func bindingCells(m *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []any {
	var users, groups, accounts []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			accounts = append(accounts, s.Namespace+"/"+s.Name)
		}
	}
	return []any{m.Name, ref.Kind + "/" + ref.Name, since(m.CreationTimestamp, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(accounts, ", ")}
}
