package defaults

import rbacv1 "k8s.io/api/rbac/v1"

// Role has nothing to default.
func Role(obj *rbacv1.Role) {}

// ClusterRole has nothing to default.
func ClusterRole(obj *rbacv1.ClusterRole) {}

// RoleBinding defaults the API group of the role reference and of User and Group subjects to
// rbac.authorization.k8s.io.
func RoleBinding(obj *rbacv1.RoleBinding) {
	roleRef(&obj.RoleRef)
	subjects(obj.Subjects)
}

// ClusterRoleBinding defaults like RoleBinding.
func ClusterRoleBinding(obj *rbacv1.ClusterRoleBinding) {
	roleRef(&obj.RoleRef)
	subjects(obj.Subjects)
}

func roleRef(r *rbacv1.RoleRef) {
	if r.APIGroup == "" {
		r.APIGroup = rbacv1.GroupName
	}
}

// subjects defaults the API group of users and groups; service accounts are in the core group, "".
func subjects(subjects []rbacv1.Subject) {
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}
