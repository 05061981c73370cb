package defaults

import coordinationv1 "k8s.io/api/coordination/v1"

// Lease has nothing to default.
func Lease(obj *coordinationv1.Lease) {}
