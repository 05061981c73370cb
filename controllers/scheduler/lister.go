package scheduler

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clusterLister gives the plugins the objects besides nodes and pods that they consult.
type clusterLister interface {
	pvc(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	pv(ctx context.Context, name string) (*corev1.PersistentVolume, error)
	storageClass(ctx context.Context, name string) (*storagev1.StorageClass, error)
	// pvs lists every PersistentVolume; callers must not modify them.
	pvs(ctx context.Context) ([]*corev1.PersistentVolume, error)
	// namespaceLabels returns the labels of a namespace, nil if there is no such namespace.
	namespaceLabels(ctx context.Context, name string) (labels.Set, error)
	namespacesMatching(ctx context.Context, selector labels.Selector) ([]string, error)
	// spreadSelector selects the pods that belong with pod for default topology spreading: those of
	// the Services selecting it and of its controlling ReplicationController, ReplicaSet or
	// StatefulSet. It is empty when there are none.
	spreadSelector(ctx context.Context, pod *corev1.Pod) labels.Selector
}

// readerLister reads through a controller-runtime reader, the manager's informer cache.
type readerLister struct {
	reader client.Reader
}

func (l readerLister) pvc(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	return pvc, l.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, pvc)
}

func (l readerLister) pv(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	pv := &corev1.PersistentVolume{}
	return pv, l.reader.Get(ctx, types.NamespacedName{Name: name}, pv)
}

func (l readerLister) storageClass(ctx context.Context, name string) (*storagev1.StorageClass, error) {
	sc := &storagev1.StorageClass{}
	return sc, l.reader.Get(ctx, types.NamespacedName{Name: name}, sc)
}

func (l readerLister) pvs(ctx context.Context) ([]*corev1.PersistentVolume, error) {
	var list corev1.PersistentVolumeList
	if err := l.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	pvs := make([]*corev1.PersistentVolume, len(list.Items))
	for i := range list.Items {
		pvs[i] = &list.Items[i]
	}
	return pvs, nil
}

func (l readerLister) namespaceLabels(ctx context.Context, name string) (labels.Set, error) {
	ns := &corev1.Namespace{}
	if err := l.reader.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return ns.Labels, nil
}

func (l readerLister) namespacesMatching(ctx context.Context, selector labels.Selector) ([]string, error) {
	var list corev1.NamespaceList
	if err := l.reader.List(ctx, &list, client.MatchingLabelsSelector{Selector: selector}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return names, nil
}

func (l readerLister) spreadSelector(ctx context.Context, pod *corev1.Pod) labels.Selector {
	set := labels.Set{}
	var services corev1.ServiceList
	if err := l.reader.List(ctx, &services, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err == nil {
		for i := range services.Items {
			sel := services.Items[i].Spec.Selector
			if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels)) {
				// Selectors of objects that all match the pod cannot conflict: merging is safe.
				set = labels.Merge(set, sel)
			}
		}
	}
	selector := set.AsSelector()
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return selector
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: owner.Name}
	switch {
	case owner.APIVersion == "v1" && owner.Kind == "ReplicationController":
		rc := &corev1.ReplicationController{}
		if err := l.reader.Get(ctx, key, rc); err == nil && len(rc.Spec.Selector) > 0 {
			selector = labels.Merge(set, rc.Spec.Selector).AsSelector()
		}
	case owner.APIVersion == "apps/v1" && owner.Kind == "ReplicaSet":
		rs := &appsv1.ReplicaSet{}
		if err := l.reader.Get(ctx, key, rs); err == nil {
			selector = addSelector(selector, rs.Spec.Selector)
		}
	case owner.APIVersion == "apps/v1" && owner.Kind == "StatefulSet":
		ss := &appsv1.StatefulSet{}
		if err := l.reader.Get(ctx, key, ss); err == nil {
			selector = addSelector(selector, ss.Spec.Selector)
		}
	}
	return selector
}

// addSelector adds the requirements of ls to selector; an unparsable ls adds nothing.
func addSelector(selector labels.Selector, ls *metav1.LabelSelector) labels.Selector {
	other, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return selector
	}
	if reqs, ok := other.Requirements(); ok {
		selector = selector.Add(reqs...)
	}
	return selector
}
