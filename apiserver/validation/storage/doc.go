// Package storage validates storage.k8s.io/v1 StorageClasses, following upstream Kubernetes
// validation of the storage group (field paths, error types and messages).
package storage
