package defaults

import policyv1 "k8s.io/api/policy/v1"

// PodDisruptionBudget has nothing to default.
func PodDisruptionBudget(obj *policyv1.PodDisruptionBudget) {}
