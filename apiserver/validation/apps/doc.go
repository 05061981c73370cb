// Package apps validates the apps/v1 objects served by skiff: Deployments, ReplicaSets, StatefulSets,
// DaemonSets and ControllerRevisions.
//
// The rules follow upstream Kubernetes validation of the apps group (selectors that match their pod
// templates, replica counts, update strategies, the fields a StatefulSet lets change), with the same
// field paths, error types and messages, so clients see the causes they know from kube-apiserver.
// Defaulting has already run when these functions are called. Embedded pod templates are validated by
// the core package; this package adds only what a workload controller needs on top.
package apps
