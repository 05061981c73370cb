package garbagecollector

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestDeletableResources(t *testing.T) {
	all := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	group := func(name, preferred string, versions ...string) *metav1.APIGroup {
		g := &metav1.APIGroup{Name: name}
		for _, v := range versions {
			gv := schema.GroupVersion{Group: name, Version: v}.String()
			g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: v})
		}
		g.PreferredVersion = metav1.GroupVersionForDiscovery{GroupVersion: schema.GroupVersion{Group: name, Version: preferred}.String(), Version: preferred}
		return g
	}
	groups := []*metav1.APIGroup{
		group("", "v1", "v1"),
		group("example.com", "v2", "v1", "v2"),
		group("events.k8s.io", "v1", "v1"),
	}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
			{Name: "nowatch", Kind: "NoWatch", Verbs: metav1.Verbs{"delete", "list"}},
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all},
			{Name: "legacies", Kind: "Legacy", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "example.com/v2", APIResources: []metav1.APIResource{
			{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
		}},
	}
	want := resourceSet{
		{Version: "v1", Resource: "pods"}:                           {Version: "v1", Kind: "Pod"},
		{Group: "example.com", Version: "v2", Resource: "widgets"}:  {Group: "example.com", Version: "v2", Kind: "Widget"},
		{Group: "example.com", Version: "v1", Resource: "legacies"}: {Group: "example.com", Version: "v1", Kind: "Legacy"},
	}
	if got := deletableResources(groups, lists); !reflect.DeepEqual(got, want) {
		t.Errorf("deletableResources() =\n%v\nwant\n%v", got, want)
	}

	mapper := groupResources(groups, lists)
	if len(mapper) != 3 || len(mapper[1].VersionedResources) != 2 {
		t.Errorf("groupResources() = %v, want 3 groups, example.com with 2 versions", mapper)
	}
}
