// Package policy validates policy/v1 PodDisruptionBudgets, following upstream Kubernetes validation
// of the policy group (field paths, error types and messages).
package policy
