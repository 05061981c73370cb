package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/defaults"
)

// registerDefaults makes decoding a request apply upstream's defaults, as kube-apiserver does: every
// create, update and patch body passes through them before the registry sees it.
func registerDefaults(s *runtime.Scheme) {
	addDefaults(s, defaults.Namespace)
	addDefaults(s, defaults.Pod)
	addDefaults(s, defaults.Service)
	addDefaults(s, defaults.Endpoints)
	addDefaults(s, defaults.ConfigMap)
	addDefaults(s, defaults.Secret)
	addDefaults(s, defaults.Node)
	addDefaults(s, defaults.Event)
	addDefaults(s, defaults.ServiceAccount)
	addDefaults(s, defaults.PersistentVolume)
	addDefaults(s, defaults.PersistentVolumeClaim)
	addDefaults(s, defaults.ResourceQuota)
	addDefaults(s, defaults.LimitRange)
	addDefaults(s, defaults.ReplicationController)
	addDefaults(s, defaults.PodTemplate)
	addDefaults(s, defaults.Deployment)
	addDefaults(s, defaults.ReplicaSet)
	addDefaults(s, defaults.StatefulSet)
	addDefaults(s, defaults.DaemonSet)
	addDefaults(s, defaults.ControllerRevision)
	addDefaults(s, defaults.Job)
	addDefaults(s, defaults.CronJob)
	addDefaults(s, defaults.HorizontalPodAutoscaler)
	addDefaults(s, defaults.Lease)
	addDefaults(s, defaults.EndpointSlice)
	addDefaults(s, defaults.PodDisruptionBudget)
	addDefaults(s, defaults.StorageClass)
	addDefaults(s, defaults.PriorityClass)
	addDefaults(s, defaults.Role)
	addDefaults(s, defaults.ClusterRole)
	addDefaults(s, defaults.RoleBinding)
	addDefaults(s, defaults.ClusterRoleBinding)
	addDefaults(s, defaults.Ingress)
	addDefaults(s, defaults.IngressClass)
	addDefaults(s, defaults.NetworkPolicy)
}

// addDefaults registers f as the defaulting function of *T.
func addDefaults[T any, P interface {
	*T
	runtime.Object
}](s *runtime.Scheme, f func(P)) {
	s.AddTypeDefaultingFunc(P(new(T)), func(obj any) { f(obj.(P)) })
}
