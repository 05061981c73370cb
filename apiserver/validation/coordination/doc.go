// Package coordination validates coordination.k8s.io/v1 Leases, following upstream Kubernetes
// validation of the coordination group (field paths, error types and messages).
package coordination
