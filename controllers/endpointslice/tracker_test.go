package endpointslice

import (
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func slice(uid, rv string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), ResourceVersion: rv}}
}

func TestWriteTracker(t *testing.T) {
	svc := types.NamespacedName{Namespace: "ns", Name: "web"}
	other := types.NamespacedName{Namespace: "ns", Name: "other"}

	t.Run("a created slice missing from the cache is stale until it shows", func(t *testing.T) {
		tr := newWriteTracker()
		tr.wrote(svc, slice("a", "10"), t0)
		if !tr.stale(svc, nil, t0) {
			t.Error("cache without the created slice is not stale")
		}
		if tr.stale(other, nil, t0) {
			t.Error("another service is stale")
		}
		if tr.stale(svc, []*discoveryv1.EndpointSlice{slice("a", "10")}, t0) {
			t.Error("cache with the created slice is stale")
		}
		if tr.stale(svc, nil, t0) {
			t.Error("a write already seen is waited for again")
		}
	})

	t.Run("an updated slice is stale until the cache has its version or a later one", func(t *testing.T) {
		tr := newWriteTracker()
		tr.wrote(svc, slice("a", "100"), t0)
		if !tr.stale(svc, []*discoveryv1.EndpointSlice{slice("a", "99")}, t0) {
			t.Error("an older version is not stale")
		}
		if tr.stale(svc, []*discoveryv1.EndpointSlice{slice("a", "101")}, t0) {
			t.Error("a newer version is stale")
		}
	})

	t.Run("a deleted slice is stale while the cache still has it", func(t *testing.T) {
		tr := newWriteTracker()
		tr.deleted(svc, slice("a", "10"), t0)
		if !tr.stale(svc, []*discoveryv1.EndpointSlice{slice("a", "10")}, t0) {
			t.Error("cache still holding the deleted slice is not stale")
		}
		if tr.stale(svc, nil, t0) {
			t.Error("cache without the deleted slice is stale")
		}
	})

	t.Run("writes are not waited for beyond the TTL", func(t *testing.T) {
		tr := newWriteTracker()
		tr.wrote(svc, slice("a", "10"), t0)
		if tr.stale(svc, nil, t0.Add(expectationTTL+time.Second)) {
			t.Error("stale after the TTL")
		}
	})

	t.Run("forget drops a service's writes", func(t *testing.T) {
		tr := newWriteTracker()
		tr.wrote(svc, slice("a", "10"), t0)
		tr.forget(svc)
		if tr.stale(svc, nil, t0) {
			t.Error("stale after forget")
		}
	})
}
