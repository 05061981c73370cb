package groups

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	appsvalidation "github.com/skiffhq/skiff/apiserver/validation/apps"
)

func apps(factory *registry.StorageFactory) (Group, error) {
	deployments := &registry.Resource{
		Resource: "deployments", Singular: "deployment", Kind: "Deployment", ShortNames: []string{"deploy"},
		Categories: []string{"all"}, Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &appsv1.Deployment{} },
		NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
		Policy: registry.Typed(defaults.Deployment, appsvalidation.ValidateDeployment,
			appsvalidation.ValidateDeploymentUpdate, appsvalidation.ValidateDeploymentStatusUpdate),
		Hooks: registry.Hooks{PrepareForUpdate: deploymentAnnotationsGeneration},
	}
	replicasets := &registry.Resource{
		Resource: "replicasets", Singular: "replicaset", Kind: "ReplicaSet", ShortNames: []string{"rs"},
		Categories: []string{"all"}, Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Policy: registry.Typed(defaults.ReplicaSet, appsvalidation.ValidateReplicaSet,
			appsvalidation.ValidateReplicaSetUpdate, appsvalidation.ValidateReplicaSetStatusUpdate),
		Fields: replicaSetFields,
	}
	statefulsets := &registry.Resource{
		Resource: "statefulsets", Singular: "statefulset", Kind: "StatefulSet", ShortNames: []string{"sts"},
		Categories: []string{"all"}, Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
		Policy: registry.Typed(defaults.StatefulSet, appsvalidation.ValidateStatefulSet,
			appsvalidation.ValidateStatefulSetUpdate, appsvalidation.ValidateStatefulSetStatusUpdate),
	}
	daemonsets := &registry.Resource{
		Resource: "daemonsets", Singular: "daemonset", Kind: "DaemonSet", ShortNames: []string{"ds"},
		Categories: []string{"all"}, Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
		Policy: registry.Typed(defaults.DaemonSet, appsvalidation.ValidateDaemonSet,
			appsvalidation.ValidateDaemonSetUpdate, appsvalidation.ValidateDaemonSetStatusUpdate),
	}
	revisions := &registry.Resource{
		Resource: "controllerrevisions", Singular: "controllerrevision", Kind: "ControllerRevision", Namespaced: true,
		New:     func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Policy: registry.Typed(defaults.ControllerRevision, appsvalidation.ValidateControllerRevision,
			appsvalidation.ValidateControllerRevisionUpdate, nil),
	}
	g, built, err := single(factory, appsv1.SchemeGroupVersion, deployments, replicasets, statefulsets, daemonsets, revisions)
	if err != nil {
		return Group{}, err
	}
	v1 := g.Versions["v1"]
	v1["deployments/scale"] = registry.NewScale(built["deployments"].Main, deployments, registry.Scale{
		Read: func(obj runtime.Object) (int32, int32, string) {
			d := obj.(*appsv1.Deployment)
			return replicas(d.Spec.Replicas), d.Status.Replicas, selector(d.Spec.Selector)
		},
		Write: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
	})
	v1["replicasets/scale"] = registry.NewScale(built["replicasets"].Main, replicasets, registry.Scale{
		Read: func(obj runtime.Object) (int32, int32, string) {
			r := obj.(*appsv1.ReplicaSet)
			return replicas(r.Spec.Replicas), r.Status.Replicas, selector(r.Spec.Selector)
		},
		Write: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
	})
	v1["statefulsets/scale"] = registry.NewScale(built["statefulsets"].Main, statefulsets, registry.Scale{
		Read: func(obj runtime.Object) (int32, int32, string) {
			s := obj.(*appsv1.StatefulSet)
			return replicas(s.Spec.Replicas), s.Status.Replicas, selector(s.Spec.Selector)
		},
		Write: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
	})
	return g, nil
}

// deploymentAnnotationsGeneration counts a change of a Deployment's annotations as a new generation too,
// as upstream: the controller copies them to the ReplicaSets, and observedGeneration tells it has.
func deploymentAnnotationsGeneration(_ context.Context, obj, old runtime.Object) {
	d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	if d.Generation == o.Generation && !equality.Semantic.DeepEqual(d.Annotations, o.Annotations) {
		d.Generation++
	}
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// selector is the label selector in its string form, as Scale's status reports it.
func selector(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return ""
	}
	return sel.String()
}
