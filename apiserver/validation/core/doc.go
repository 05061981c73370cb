// Package core validates the core/v1 API objects served by skiff: Pods, Services, Secrets, Nodes and
// the rest of the legacy group.
//
// The rules follow upstream Kubernetes validation of the core group, with the same field paths, error
// types and messages, so clients see the causes they know from kube-apiserver. Functions take the
// k8s.io/api v1 types directly because skiff serves those types without an internal version.
//
// For each kind K there is ValidateK (create), ValidateKUpdate (update, with the kind's immutability
// rules) and, for kinds with a status subresource, ValidateKStatusUpdate. Like upstream, they expect
// defaults to have been applied already (restartPolicy, dnsPolicy, imagePullPolicy, protocols,
// terminationGracePeriodSeconds, sessionAffinity, ...): an unset enum is reported as Required.
//
// The functions never modify their arguments. Where upstream resets fields during validation (the
// spec and status of a Namespace on update, a Pod's spec on a status write), the registry strategy
// does that in PrepareForUpdate instead.
//
// ValidatePodTemplateSpec, ValidatePodSpec and ValidateResourceRequirements are shared with the
// workload groups (apps, batch), which embed pod templates.
package core
