package garbagecollector

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"
)

// ignored resources are never watched, as upstream: events are many, short-lived, and own nothing.
func ignored(gr schema.GroupResource) bool {
	return gr.Resource == "events" && (gr.Group == "" || gr.Group == "events.k8s.io")
}

// crdResource is watched like any other; its changes also make the collector rediscover resources.
var crdResource = schema.GroupResource{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}

// resourceSet maps each resource the collector watches to the kind its objects have.
type resourceSet map[schema.GroupVersionResource]schema.GroupVersionKind

// deletableResources picks, from discovery, each resource at its group's preferred version (or the
// first version serving it when the preferred one does not) that supports delete, list and watch, as
// upstream's GetDeletableResources does. Subresources and ignored resources are left out.
func deletableResources(groups []*metav1.APIGroup, lists []*metav1.APIResourceList) resourceSet {
	byGV := indexLists(lists)
	out := resourceSet{}
	for _, g := range groups {
		type choice struct {
			version string
			res     metav1.APIResource
		}
		chosen := map[string]choice{}
		var order []string
		for _, v := range g.Versions {
			list, ok := byGV[v.GroupVersion]
			if !ok {
				continue
			}
			for _, r := range list.APIResources {
				if strings.Contains(r.Name, "/") {
					continue
				}
				if c, ok := chosen[r.Name]; ok && (c.version == g.PreferredVersion.Version || v.Version != g.PreferredVersion.Version) {
					continue
				} else if !ok {
					order = append(order, r.Name)
				}
				chosen[r.Name] = choice{version: v.Version, res: r}
			}
		}
		for _, name := range order {
			c := chosen[name]
			if !hasVerbs(c.res.Verbs, "delete", "list", "watch") || ignored(schema.GroupResource{Group: g.Name, Resource: name}) {
				continue
			}
			group, version := g.Name, c.version
			if c.res.Group != "" {
				group = c.res.Group
			}
			if c.res.Version != "" {
				version = c.res.Version
			}
			out[schema.GroupVersionResource{Group: group, Version: version, Resource: name}] =
				schema.GroupVersionKind{Group: group, Version: version, Kind: c.res.Kind}
		}
	}
	return out
}

// groupResources arranges discovery as client-go's REST mapper wants it: every version of every group.
func groupResources(groups []*metav1.APIGroup, lists []*metav1.APIResourceList) []*restmapper.APIGroupResources {
	byGV := indexLists(lists)
	var out []*restmapper.APIGroupResources
	for _, g := range groups {
		r := &restmapper.APIGroupResources{Group: *g, VersionedResources: map[string][]metav1.APIResource{}}
		for _, v := range g.Versions {
			if list, ok := byGV[v.GroupVersion]; ok {
				r.VersionedResources[v.Version] = list.APIResources
			}
		}
		out = append(out, r)
	}
	return out
}

func indexLists(lists []*metav1.APIResourceList) map[string]*metav1.APIResourceList {
	byGV := make(map[string]*metav1.APIResourceList, len(lists))
	for _, l := range lists {
		if l != nil {
			byGV[l.GroupVersion] = l
		}
	}
	return byGV
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
