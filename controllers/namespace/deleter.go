package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// finalizerEstimateSeconds is how long, as upstream assumes, objects with finalizers take to go.
const finalizerEstimateSeconds int64 = 15

// resource is a namespaced resource to empty, with what it supports.
type resource struct {
	gvr   schema.GroupVersionResource
	verbs metav1.Verbs
}

// deletableResources are the resources of discovery that support delete, in a stable order, and the
// first group version that did not parse (those are skipped, the others still emptied).
func deletableResources(lists []*metav1.APIResourceList) ([]resource, error) {
	var (
		out      []resource
		parseErr error
	)
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			if parseErr == nil {
				parseErr = err
			}
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			out = append(out, resource{gvr: gv.WithResource(r.Name), verbs: r.Verbs})
		}
	}
	slices.SortFunc(out, func(a, b resource) int { return strings.Compare(a.gvr.String(), b.gvr.String()) })
	return out, parseErr
}

// contentDeleter deletes everything in a terminating namespace, then finalizes it.
type contentDeleter struct {
	namespaces corev1client.NamespaceInterface
	pods       corev1client.PodsGetter
	metadata   metadata.Interface
	discovery  discovery.ServerResourcesInterfaceWithContext
}

// run does one pass over namespace name. It returns an estimate in seconds of how long remaining content
// needs to go (zero when the namespace was finalized or needs nothing more).
func (d *contentDeleter) run(ctx context.Context, name string) (int64, error) {
	ns, err := d.namespaces.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return 0, nil
	}
	ns, err = d.retryOnConflict(ctx, ns, d.markTerminating)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mark namespace %s terminating: %w", name, err)
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		// Emptied and finalized by us already; other finalizers are other controllers' business.
		return 0, nil
	}
	estimate, err := d.deleteAllContent(ctx, ns)
	if err != nil || estimate > 0 {
		return estimate, err
	}
	if _, err := d.retryOnConflict(ctx, ns, d.finalize); err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	return 0, nil
}

// retryOnConflict applies update to the latest namespace until it does not conflict, failing if the
// namespace was replaced by another of the same name meanwhile.
func (d *contentDeleter) retryOnConflict(ctx context.Context, ns *corev1.Namespace,
	update func(context.Context, *corev1.Namespace) (*corev1.Namespace, error)) (*corev1.Namespace, error) {
	for {
		out, err := update(ctx, ns)
		if !apierrors.IsConflict(err) {
			return out, err
		}
		latest, err := d.namespaces.Get(ctx, ns.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if latest.UID != ns.UID {
			return nil, fmt.Errorf("namespace %s was replaced (uid %s, was %s)", ns.Name, latest.UID, ns.UID)
		}
		ns = latest
	}
}

func (d *contentDeleter) markTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.DeletionTimestamp == nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	ns = ns.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	return d.namespaces.UpdateStatus(ctx, ns, metav1.UpdateOptions{})
}

func (d *contentDeleter) finalize(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	ns = ns.DeepCopy()
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	return d.namespaces.Finalize(ctx, ns, metav1.UpdateOptions{})
}

// deleteAllContent deletes every namespaced resource's objects in ns, records what went wrong or remains
// in ns's conditions (updating ns to what the API server stored), and returns the estimate of the
// longest wait.
func (d *contentDeleter) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	var (
		errs     []error
		problems = deletionProblems{remaining: map[schema.GroupResource]int{}, finalizers: map[string]int{}}
		estimate int64
	)
	lists, err := d.discovery.ServerPreferredNamespacedResourcesWithContext(ctx)
	if err != nil {
		// Partial discovery still names resources worth emptying.
		errs = append(errs, err)
		problems.discovery = err
	}
	resources, err := deletableResources(lists)
	if err != nil {
		errs = append(errs, err)
		problems.groupVersion = err
	}
	for _, r := range resources {
		left, err := d.deleteResource(ctx, r, ns)
		if err != nil {
			errs = append(errs, err)
			problems.content = append(problems.content, err)
		}
		estimate = max(estimate, left.estimate)
		if left.count > 0 {
			problems.remaining[r.gvr.GroupResource()] += left.count
			for f, n := range left.finalizers {
				problems.finalizers[f] += n
			}
		}
	}
	now := metav1.Now()
	if updateConditions(&ns.Status, problems.conditions(now), now) {
		updated, err := d.namespaces.UpdateStatus(ctx, ns, metav1.UpdateOptions{})
		switch {
		case err == nil:
			*ns = *updated
		case !apierrors.IsNotFound(err):
			// The next pass writes them again.
			log.FromContext(ctx).Error(err, "Updating namespace deletion conditions")
		}
	}
	return estimate, errors.Join(errs...)
}

// leftover is what remains of one resource after deletion.
type leftover struct {
	estimate   int64
	count      int
	finalizers map[string]int
}

// deleteResource deletes the objects of one resource in ns: the whole collection when the resource
// supports it, else one by one; then lists what is left.
func (d *contentDeleter) deleteResource(ctx context.Context, r resource, ns *corev1.Namespace) (leftover, error) {
	estimate, err := d.estimate(ctx, r.gvr, ns)
	if err != nil {
		return leftover{}, err
	}
	client := d.metadata.Resource(r.gvr).Namespace(ns.Name)
	// Background: the namespace controller never orphans, whatever the resource's default.
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	collection := slices.Contains(r.verbs, "deletecollection")
	if collection {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			collection = false
		case err != nil:
			return leftover{estimate: estimate}, fmt.Errorf("delete %s in %s: %w", r.gvr, ns.Name, err)
		}
	}
	if !slices.Contains(r.verbs, "list") {
		return leftover{estimate: estimate}, nil
	}
	if !collection {
		items, err := client.List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsMethodNotSupported(err) && !apierrors.IsNotFound(err) {
			return leftover{estimate: estimate}, fmt.Errorf("list %s in %s: %w", r.gvr, ns.Name, err)
		}
		if err == nil {
			for _, item := range items.Items {
				err := client.Delete(ctx, item.Name, opts)
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
					return leftover{estimate: estimate}, fmt.Errorf("delete %s %s/%s: %w", r.gvr, ns.Name, item.Name, err)
				}
			}
		}
	}
	items, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return leftover{estimate: estimate}, nil
	}
	if err != nil {
		return leftover{estimate: estimate}, fmt.Errorf("list %s in %s: %w", r.gvr, ns.Name, err)
	}
	return remaining(r.gvr, ns.Name, estimate, items.Items)
}

// remaining judges what a resource left behind: fine while within estimate or held by finalizers
// (which get upstream's default estimate), an error otherwise, since it should be gone.
func remaining(gvr schema.GroupVersionResource, ns string, estimate int64, items []metav1.PartialObjectMetadata) (leftover, error) {
	left := leftover{estimate: estimate, count: len(items), finalizers: map[string]int{}}
	if len(items) == 0 {
		return leftover{}, nil
	}
	for _, item := range items {
		for _, f := range item.Finalizers {
			left.finalizers[f]++
		}
	}
	if estimate > 0 {
		return left, nil
	}
	if len(left.finalizers) > 0 {
		left.estimate = finalizerEstimateSeconds
		return left, nil
	}
	return left, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns, gvr)
}

// estimate is how long, in seconds from now, the objects of a resource may still take to go: for pods,
// the longest termination grace period of a pod still running, counted from the namespace's deletion.
func (d *contentDeleter) estimate(ctx context.Context, gvr schema.GroupVersionResource, ns *corev1.Namespace) (int64, error) {
	if gvr.GroupResource() != (schema.GroupResource{Resource: "pods"}) {
		return 0, nil
	}
	pods, err := d.pods.Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list pods in %s: %w", ns.Name, err)
	}
	return podsEstimate(pods.Items, ns.DeletionTimestamp.Time, time.Now()), nil
}

// podsEstimate is the longest terminationGracePeriodSeconds of pods not yet finished, or zero once that
// long has passed since deletedAt.
func podsEstimate(pods []corev1.Pod, deletedAt, now time.Time) int64 {
	var estimate int64
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	if now.Sub(deletedAt) >= time.Duration(estimate)*time.Second {
		return 0
	}
	return estimate
}
