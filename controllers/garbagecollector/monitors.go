package garbagecollector

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// monitor is a metadata-only informer of one resource, feeding the graph.
type monitor struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	done     chan struct{}
}

// monitors runs one monitor per watched resource and changes the set as resources come and go.
type monitors struct {
	client metadata.Interface
	// onEvent receives every change every monitor sees.
	onEvent func(*event)
	// onCRDChange is called when a CustomResourceDefinition changes: new resources may be served soon.
	onCRDChange func()

	mu      sync.Mutex
	running map[schema.GroupVersionResource]*monitor
	wg      sync.WaitGroup
}

// sync starts monitors for the resources of want not watched yet and stops those no longer wanted,
// except those keep says to keep (resources whose group failed discovery this time). It returns how
// many it started and stopped.
func (m *monitors) sync(ctx context.Context, want resourceSet, keep func(schema.GroupVersionResource) bool) (started, stopped int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running = map[schema.GroupVersionResource]*monitor{}
	}
	for gvr, mon := range m.running {
		if _, ok := want[gvr]; ok || keep(gvr) {
			continue
		}
		mon.cancel()
		delete(m.running, gvr)
		stopped++
	}
	for gvr, gvk := range want {
		if _, ok := m.running[gvr]; ok {
			continue
		}
		mon, err := m.start(ctx, gvr, gvk)
		if err != nil {
			return started, stopped, err
		}
		m.running[gvr] = mon
		started++
	}
	return started, stopped, nil
}

func (m *monitors) start(ctx context.Context, gvr schema.GroupVersionResource, gvk schema.GroupVersionKind) (*monitor, error) {
	informer := metadatainformer.NewFilteredMetadataInformer(m.client, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	if err := informer.SetTransform(stripMetadata); err != nil {
		return nil, err
	}
	isCRD := gvr.GroupResource() == crdResource
	send := func(typ eventType, obj, old any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		o, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		ev := &event{typ: typ, gvk: gvk, obj: o}
		if old != nil {
			if oa, err := meta.Accessor(old); err == nil {
				ev.old = oa
			}
		}
		m.onEvent(ev)
		if isCRD && m.onCRDChange != nil {
			m.onCRDChange()
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { send(addEvent, obj, nil) },
		UpdateFunc: func(old, obj any) { send(updateEvent, obj, old) },
		DeleteFunc: func(obj any) { send(deleteEvent, obj, nil) },
	}); err != nil {
		return nil, err
	}
	monCtx, cancel := context.WithCancel(ctx)
	mon := &monitor{informer: informer, cancel: cancel, done: make(chan struct{})}
	m.wg.Go(func() {
		defer close(mon.done)
		informer.RunWithContext(monCtx)
	})
	return mon, nil
}

// synced reports whether every monitor has listed its resource once.
func (m *monitors) synced() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.running) == 0 {
		return false
	}
	for _, mon := range m.running {
		if !mon.informer.HasSynced() {
			return false
		}
	}
	return true
}

// stop stops every monitor and waits for them.
func (m *monitors) stop() {
	m.mu.Lock()
	for gvr, mon := range m.running {
		mon.cancel()
		delete(m.running, gvr)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// stripMetadata keeps of an object only what the collector uses, so that ten thousand pods cost little:
// name, namespace, uid, ownerReferences, finalizers and deletionTimestamp.
func stripMetadata(obj any) (any, error) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		stripped, err := stripMetadata(tombstone.Obj)
		return cache.DeletedFinalStateUnknown{Key: tombstone.Key, Obj: stripped}, err
	}
	o, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name:              o.GetName(),
		Namespace:         o.GetNamespace(),
		UID:               o.GetUID(),
		OwnerReferences:   o.GetOwnerReferences(),
		Finalizers:        o.GetFinalizers(),
		DeletionTimestamp: o.GetDeletionTimestamp(),
	}}, nil
}
