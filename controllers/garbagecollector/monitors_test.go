package garbagecollector

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestStripMetadataKeepsOnlyWhatTheCollectorUses(t *testing.T) {
	full := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "12", Generation: 3,
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "o"}},
			Finalizers:        []string{"f"},
			DeletionTimestamp: &now,
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
	}
	want := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "p", Namespace: "ns", UID: "u", OwnerReferences: full.OwnerReferences, Finalizers: []string{"f"}, DeletionTimestamp: &now,
	}}
	got, err := stripMetadata(full)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("stripMetadata() = %+v, %v; want %+v", got, err, want)
	}
	tombstone, err := stripMetadata(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: full})
	if err != nil || !reflect.DeepEqual(tombstone, cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: want}) {
		t.Errorf("stripMetadata(tombstone) = %+v, %v", tombstone, err)
	}
	if got, _ := stripMetadata("not an object"); got != "not an object" {
		t.Errorf("stripMetadata passes other values through, got %v", got)
	}
}

// BenchmarkGraphMemory reports the graph's memory per object for 100 ReplicaSets of 100 pods each.
func BenchmarkGraphMemory(b *testing.B) {
	rsKind := configMapKind
	rsKind.Kind = "ReplicaSet"
	podKind := configMapKind
	podKind.Kind = "Pod"
	var events []*event
	for r := range 100 {
		rs := obj("ns", fmt.Sprintf("rs-%d", r), types.UID(fmt.Sprintf("rs-%d", r)))
		events = append(events, added(rsKind, rs))
		for p := range 100 {
			events = append(events, added(podKind, obj("ns", fmt.Sprintf("pod-%d-%d", r, p), types.UID(fmt.Sprintf("pod-%d-%d", r, p)),
				ownedBy("ReplicaSet", rs.Name, rs.UID, true))))
		}
	}
	b.ResetTimer()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g := newGraph()
		for _, ev := range events {
			g.apply(ev)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(events)), "bytes/object")
		runtime.KeepAlive(g)
	}
}
