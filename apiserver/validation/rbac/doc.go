// Package rbac validates rbac.authorization.k8s.io/v1 Roles, ClusterRoles, RoleBindings and
// ClusterRoleBindings, following upstream Kubernetes validation of the RBAC group (field paths, error
// types and messages). Privilege escalation checks are authorization, not validation, and live with
// the registry.
package rbac
