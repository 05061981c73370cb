// Package discovery validates discovery.k8s.io/v1 EndpointSlices, following upstream Kubernetes
// validation of the discovery group (field paths, error types and messages).
package discovery
