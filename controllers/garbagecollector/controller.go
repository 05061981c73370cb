// Package garbagecollector deletes objects whose owners are gone, as Kubernetes' garbage collector does.
//
// An object names its owners in metadata.ownerReferences. The collector watches the metadata (only the
// metadata) of every resource that can be listed, watched and deleted, built-in or custom, rediscovering
// them every 30 seconds and whenever a CustomResourceDefinition changes, and keeps a graph of owner UID to
// dependents. Then:
//
//   - background: when every owner of a dependent is gone (confirmed with a live GET of the owner, since
//     the graph may lag; an owner with another UID counts as gone) the dependent is deleted; when only
//     some are, the references to the missing ones are removed;
//   - foreground: an owner being deleted with the foregroundDeletion finalizer has its dependents deleted
//     (foreground too when they have dependents of their own) and loses the finalizer, which lets the
//     API server delete it, once no dependent with blockOwnerDeletion is left;
//   - orphan: an owner being deleted with the orphan finalizer has its reference removed from every
//     dependent, then loses the finalizer.
//
// References that cannot resolve (a namespaced owner in another namespace than its dependent, or a
// cluster-scoped dependent with a namespaced owner) are reported with the event OwnerRefInvalidNamespace.
// The API server does its part: DELETE with propagationPolicy Foreground or Orphan sets the finalizer.
package garbagecollector

import (
	"fmt"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Collector configures the garbage collector. SetupWithManager adds it to a manager as a Runnable that
// runs only on the elected leader.
type Collector struct {
	// Recorder records OwnerRefInvalidNamespace events; nil means the manager's recorder for
	// "garbage-collector-controller".
	Recorder record.EventRecorder
	// Workers is how many objects are examined for deletion at once, and how many owners have their
	// dependents orphaned at once (default 10 each, as upstream's 20 would crowd a small machine).
	Workers int
	// ResyncPeriod is how often discovery is read again for resources that came or went (default 30s).
	ResyncPeriod time.Duration
}

// SetupWithManager adds the collector to mgr, talking to the API server mgr is configured for.
func (c *Collector) SetupWithManager(mgr ctrl.Manager) error {
	md, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("garbage collector metadata client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("garbage collector discovery client: %w", err)
	}
	recorder := c.Recorder
	if recorder == nil {
		recorder = mgr.GetEventRecorderFor("garbage-collector-controller")
	}
	workers := c.Workers
	if workers <= 0 {
		workers = 10
	}
	period := c.ResyncPeriod
	if period <= 0 {
		period = 30 * time.Second
	}
	return mgr.Add(newCollector(md, dc, recorder, workers, period))
}
