// Package scheduling validates scheduling.k8s.io/v1 PriorityClasses, following upstream Kubernetes
// validation of the scheduling group (field paths, error types and messages).
package scheduling
