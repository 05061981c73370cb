// Package registry turns a Resource, a short description of one served resource, into the REST storage
// that k8s.io/apiserver serves: a generic etcd Store with a strategy (defaulting, validation, the
// spec/status split, generation), its table columns, and the status and scale subresources.
//
// The policy of each resource (what is valid, what is defaulted) lives in the validation and defaults
// packages; the resource packages beside this one (core, apps, batch, ...) only say which resources
// exist and add what a resource does beyond storing (pod binding, service allocation, namespace
// finalization).
package registry
