// Package networking validates the networking.k8s.io/v1 objects served by skiff: Ingresses,
// IngressClasses and NetworkPolicies, following upstream Kubernetes validation of the networking group
// (field paths, error types and messages).
package networking
