// Package defaults fills in the fields a client may leave out of the objects skiff serves, with the values
// kube-apiserver would store.
//
// Upstream applies these defaults while decoding a request (the SetDefaults_* functions of
// k8s.io/kubernetes pkg/apis/<group>/v1 and the generated defaulters that walk nested structs). skiff serves
// the k8s.io/api v1 types directly and has no decoding step of its own, so the registry strategies call the
// function named after the kind instead: Pod, Deployment, Service, ... Each one changes its argument in
// place, only sets fields that are unset, and is idempotent, so it can run on create and on update alike.
//
// Every served kind has a function, including the kinds upstream does not default, so that callers can treat
// all kinds alike. Embedded pod templates are defaulted by PodTemplateSpec, which leaves out the defaults
// upstream reserves for Pods themselves (requests copied from limits, enableServiceLinks, host ports).
//
// One step needs more than the object's own fields and is separate: JobSelector needs the Job's UID, which
// the server assigns after defaulting.
package defaults
