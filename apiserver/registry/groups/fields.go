package groups

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/registry"
	"github.com/skiffhq/skiff/apiserver/registry/core"
	"github.com/skiffhq/skiff/apiserver/scheme"
	eventsv1 "k8s.io/api/events/v1"
)

func init() {
	registry.RegisterFieldSelectors(scheme.Scheme, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), replicaSetFields, &appsv1.ReplicaSet{})
	registry.RegisterFieldSelectors(scheme.Scheme, batchv1.SchemeGroupVersion.WithKind("Job"), jobFields, &batchv1.Job{})
	registry.RegisterFieldSelectors(scheme.Scheme, eventsv1.SchemeGroupVersion.WithKind("Event"), core.EventFields, eventsExample())
}

func replicaSetFields(obj runtime.Object) fields.Set {
	return fields.Set{"status.replicas": fmt.Sprint(obj.(*appsv1.ReplicaSet).Status.Replicas)}
}

func jobFields(obj runtime.Object) fields.Set {
	return fields.Set{"status.successful": fmt.Sprint(obj.(*batchv1.Job).Status.Succeeded)}
}
