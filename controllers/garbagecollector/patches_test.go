package garbagecollector

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPatches(t *testing.T) {
	latest := obj("ns", "dep", "d", ownedBy("ConfigMap", "a", "a", true), ownedBy("ConfigMap", "b", "b", false))
	latest.ResourceVersion = "42"
	latest.Finalizers = []string{"x", metav1.FinalizerOrphanDependents}
	must := func(p []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	tests := []struct {
		name, got, want string
	}{
		{
			name: "strategic removal of references is keyed by owner UID and guarded by the dependent's UID",
			got:  must(removeOwnersStrategic("d", []types.UID{"a", "b"})),
			want: `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"a"},{"$patch":"delete","uid":"b"}],"uid":"d"}}`,
		},
		{
			name: "merge removal of references keeps the others and is guarded by the resourceVersion",
			got:  must(removeOwnersMerge(latest, []types.UID{"a"})),
			want: `{"metadata":{"resourceVersion":"42","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"b","uid":"b","blockOwnerDeletion":false}]}}`,
		},
		{
			name: "merge removal of the last reference clears the list",
			got:  must(removeOwnersMerge(latest, []types.UID{"a", "b"})),
			want: `{"metadata":{"resourceVersion":"42","ownerReferences":null}}`,
		},
		{
			name: "strategic unblocking sets blockOwnerDeletion false by owner UID",
			got:  must(unblockOwnersStrategic("d", latest.OwnerReferences)),
			want: `{"metadata":{"ownerReferences":[{"uid":"a","blockOwnerDeletion":false},{"uid":"b","blockOwnerDeletion":false}],"uid":"d"}}`,
		},
		{
			name: "merge unblocking rewrites every reference without blocking",
			got:  must(unblockOwnersMerge(latest)),
			want: `{"metadata":{"resourceVersion":"42","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"a","uid":"a","blockOwnerDeletion":false},{"apiVersion":"v1","kind":"ConfigMap","name":"b","uid":"b","blockOwnerDeletion":false}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("patch =\n%s\nwant\n%s", tt.got, tt.want)
			}
		})
	}
	if latest.OwnerReferences[0].BlockOwnerDeletion == nil || !*latest.OwnerReferences[0].BlockOwnerDeletion {
		t.Error("unblockOwnersMerge changed the object it read")
	}
}

func TestRemoveFinalizerMerge(t *testing.T) {
	o := obj("ns", "o", "o")
	o.ResourceVersion = "7"
	o.Finalizers = []string{"x", metav1.FinalizerDeleteDependents}
	p, found, err := removeFinalizerMerge(o, metav1.FinalizerDeleteDependents)
	if err != nil || !found || string(p) != `{"metadata":{"resourceVersion":"7","finalizers":["x"]}}` {
		t.Errorf("removeFinalizerMerge = %s, %v, %v", p, found, err)
	}
	o.Finalizers = []string{metav1.FinalizerDeleteDependents}
	p, _, _ = removeFinalizerMerge(o, metav1.FinalizerDeleteDependents)
	if string(p) != `{"metadata":{"resourceVersion":"7","finalizers":null}}` {
		t.Errorf("removing the last finalizer: %s, want finalizers null", p)
	}
	o.Finalizers = []string{"x"}
	if p, found, _ := removeFinalizerMerge(o, metav1.FinalizerDeleteDependents); found || p != nil {
		t.Errorf("absent finalizer: %s, %v; want no patch", p, found)
	}
}
