package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

func podReader() rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}
}

func validRole() *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "default", ResourceVersion: "1"},
		Rules:      []rbacv1.PolicyRule{podReader()},
	}
}

func validClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:metrics-reader", ResourceVersion: "1"},
		Rules: []rbacv1.PolicyRule{
			podReader(),
			{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics", "/healthz/*"}},
		},
	}
}

func TestValidateRole(t *testing.T) {
	rule := path("rules").Index(0)
	cases := []struct {
		name   string
		mutate func(*rbacv1.Role)
		want   field.ErrorList
	}{
		{"valid role passes", func(*rbacv1.Role) {}, nil},
		{"a role with no rules passes", func(r *rbacv1.Role) { r.Rules = nil }, nil},
		{"names are path segments", func(r *rbacv1.Role) { r.Name = "a/b" }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "may not contain '/'"),
		}},
		{"namespace is required", func(r *rbacv1.Role) { r.Namespace = "" }, field.ErrorList{
			field.Required(path("metadata", "namespace"), ""),
		}},
		{"rules need verbs", func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }, field.ErrorList{
			field.Required(rule.Child("verbs"), "verbs must contain at least one value"),
		}},
		{"resource rules need api groups and resources", func(r *rbacv1.Role) {
			r.Rules[0].APIGroups, r.Rules[0].Resources = nil, nil
		}, field.ErrorList{
			field.Required(rule.Child("apiGroups"), "resource rules must supply at least one api group"),
			field.Required(rule.Child("resources"), "resource rules must supply at least one resource"),
		}},
		{"namespaced rules cannot grant non-resource URLs", func(r *rbacv1.Role) {
			r.Rules[0] = rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}
		}, field.ErrorList{
			field.Invalid(rule.Child("nonResourceURLs"), nil, "namespaced rules cannot apply to non-resource URLs"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validRole()
			tc.mutate(r)
			matcher.Test(t, tc.want, ValidateRole(r))
		})
	}
}

func TestValidateRoleUpdate(t *testing.T) {
	old := validRole()
	r := old.DeepCopy()
	r.Rules = append(r.Rules, rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}})
	matcher.Test(t, nil, ValidateRoleUpdate(r, old))

	r.Rules[1].Verbs = nil
	matcher.Test(t, field.ErrorList{field.Required(path("rules").Index(1).Child("verbs"), "")}, ValidateRoleUpdate(r, old))
}

func TestValidateClusterRole(t *testing.T) {
	selectors := path("aggregationRule", "clusterRoleSelectors")
	cases := []struct {
		name   string
		mutate func(*rbacv1.ClusterRole)
		want   field.ErrorList
	}{
		{"valid cluster role passes", func(*rbacv1.ClusterRole) {}, nil},
		{"aggregated role passes", func(r *rbacv1.ClusterRole) {
			r.Rules = nil
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
				{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-view": "true"}},
			}}
		}, nil},
		{"cluster roles are cluster-scoped", func(r *rbacv1.ClusterRole) { r.Namespace = "default" }, field.ErrorList{
			field.Forbidden(path("metadata", "namespace"), "not allowed on this type"),
		}},
		{"rules cannot mix resources and non-resource URLs", func(r *rbacv1.ClusterRole) {
			r.Rules[1].Resources = []string{"pods"}
		}, field.ErrorList{
			field.Invalid(path("rules").Index(1).Child("nonResourceURLs"), nil, "rules cannot apply to both regular resources and non-resource URLs"),
		}},
		{"aggregation rule needs selectors", func(r *rbacv1.ClusterRole) { r.AggregationRule = &rbacv1.AggregationRule{} }, field.ErrorList{
			field.Required(selectors, "at least one clusterRoleSelector required if aggregationRule is non-nil"),
		}},
		{"aggregation selectors are validated", func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
				{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: metav1.LabelSelectorOpExists, Values: []string{"y"}}}},
			}}
		}, field.ErrorList{
			field.Forbidden(selectors.Index(0).Child("matchExpressions").Index(0).Child("values"), ""),
			field.Invalid(selectors.Index(0), nil, "invalid label selector."),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validClusterRole()
			tc.mutate(r)
			matcher.Test(t, tc.want, ValidateClusterRole(r))
		})
	}
}

func TestValidateClusterRoleUpdate(t *testing.T) {
	old := validClusterRole()
	r := old.DeepCopy()
	r.Rules = r.Rules[:1]
	matcher.Test(t, nil, ValidateClusterRoleUpdate(r, old))
}

func validRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: "default", ResourceVersion: "1"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane@example.com"},
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"},
			{Kind: rbacv1.ServiceAccountKind, Name: "default"},
		},
	}
}

func validClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics", ResourceVersion: "1"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: "monitoring"}},
	}
}

func TestValidateRoleBinding(t *testing.T) {
	subjects := path("subjects")
	cases := []struct {
		name   string
		mutate func(*rbacv1.RoleBinding)
		want   field.ErrorList
	}{
		{"valid binding passes", func(*rbacv1.RoleBinding) {}, nil},
		{"binding a ClusterRole passes", func(rb *rbacv1.RoleBinding) { rb.RoleRef.Kind = "ClusterRole" }, nil},
		{"roleRef apiGroup must be RBAC", func(rb *rbacv1.RoleBinding) { rb.RoleRef.APIGroup = "" }, field.ErrorList{
			field.NotSupported(path("roleRef", "apiGroup"), "", []string{rbacv1.GroupName}),
		}},
		{"roleRef kind must be a role", func(rb *rbacv1.RoleBinding) { rb.RoleRef.Kind = "User" }, field.ErrorList{
			field.NotSupported(path("roleRef", "kind"), "User", []string{"Role", "ClusterRole"}),
		}},
		{"roleRef name is required", func(rb *rbacv1.RoleBinding) { rb.RoleRef.Name = "" }, field.ErrorList{
			field.Required(path("roleRef", "name"), ""),
		}},
		{"roleRef name is a path segment", func(rb *rbacv1.RoleBinding) { rb.RoleRef.Name = ".." }, field.ErrorList{
			field.Invalid(path("roleRef", "name"), nil, "may not be '..'"),
		}},
		{"subject name is required", func(rb *rbacv1.RoleBinding) { rb.Subjects[0].Name = "" }, field.ErrorList{
			field.Required(subjects.Index(0).Child("name"), ""),
		}},
		{"users and groups belong to the RBAC group", func(rb *rbacv1.RoleBinding) {
			rb.Subjects[0].APIGroup, rb.Subjects[1].APIGroup = "", "v1"
		}, field.ErrorList{
			field.NotSupported(subjects.Index(0).Child("apiGroup"), "", []string{rbacv1.GroupName}),
			field.NotSupported(subjects.Index(1).Child("apiGroup"), "v1", []string{rbacv1.GroupName}),
		}},
		{"service accounts belong to the core group", func(rb *rbacv1.RoleBinding) { rb.Subjects[2].APIGroup = rbacv1.GroupName }, field.ErrorList{
			field.NotSupported(subjects.Index(2).Child("apiGroup"), rbacv1.GroupName, []string{""}),
		}},
		{"service account names are DNS subdomains", func(rb *rbacv1.RoleBinding) { rb.Subjects[2].Name = "Default" }, field.ErrorList{
			field.Invalid(subjects.Index(2).Child("name"), nil, ""),
		}},
		{"unknown subject kind is not supported", func(rb *rbacv1.RoleBinding) { rb.Subjects[0].Kind = "Robot" }, field.ErrorList{
			field.NotSupported(subjects.Index(0).Child("kind"), "Robot", []string{"ServiceAccount", "User", "Group"}),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rb := validRoleBinding()
			tc.mutate(rb)
			matcher.Test(t, tc.want, ValidateRoleBinding(rb))
		})
	}
}

func TestValidateRoleBindingUpdate(t *testing.T) {
	old := validRoleBinding()
	rb := old.DeepCopy()
	rb.Subjects = rb.Subjects[:1]
	matcher.Test(t, nil, ValidateRoleBindingUpdate(rb, old))

	rb.RoleRef.Name = "admin"
	matcher.Test(t, field.ErrorList{field.Invalid(path("roleRef"), nil, "cannot change roleRef")}, ValidateRoleBindingUpdate(rb, old))
}

func TestValidateClusterRoleBinding(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*rbacv1.ClusterRoleBinding)
		want   field.ErrorList
	}{
		{"valid binding passes", func(*rbacv1.ClusterRoleBinding) {}, nil},
		{"cluster bindings may only bind ClusterRoles", func(crb *rbacv1.ClusterRoleBinding) { crb.RoleRef.Kind = "Role" }, field.ErrorList{
			field.NotSupported(path("roleRef", "kind"), "Role", []string{"ClusterRole"}),
		}},
		{"service accounts need a namespace", func(crb *rbacv1.ClusterRoleBinding) { crb.Subjects[0].Namespace = "" }, field.ErrorList{
			field.Required(path("subjects").Index(0).Child("namespace"), ""),
		}},
		{"cluster bindings are cluster-scoped", func(crb *rbacv1.ClusterRoleBinding) { crb.Namespace = "default" }, field.ErrorList{
			field.Forbidden(path("metadata", "namespace"), ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			crb := validClusterRoleBinding()
			tc.mutate(crb)
			matcher.Test(t, tc.want, ValidateClusterRoleBinding(crb))
		})
	}
}

func TestValidateClusterRoleBindingUpdate(t *testing.T) {
	old := validClusterRoleBinding()
	crb := old.DeepCopy()
	crb.Subjects = append(crb.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "ops"})
	matcher.Test(t, nil, ValidateClusterRoleBindingUpdate(crb, old))

	crb.RoleRef.Name = "cluster-admin"
	matcher.Test(t, field.ErrorList{field.Invalid(path("roleRef"), nil, "cannot change roleRef")}, ValidateClusterRoleBindingUpdate(crb, old))
}
