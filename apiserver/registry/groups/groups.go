// Package groups serves the named API groups (apps, batch, autoscaling, networking.k8s.io, ...): which
// resources each has, and what a few of them add to plain storage (scale subresources, the events
// API that shares core's storage).
package groups

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiffhq/skiff/apiserver/registry"
)

// Group is the storage of one API group, per version.
type Group struct {
	Name string
	// Versions maps each served version, preferred first in Order, to its storage.
	Versions map[string]map[string]rest.Storage
	Order    []string
}

// All returns the storage of every named group.
func All(factory *registry.StorageFactory) ([]Group, error) {
	var out []Group
	for _, build := range []func(*registry.StorageFactory) (Group, error){
		apps, batch, autoscaling, coordination, discovery, events, policy, storage, scheduling, rbac, networking, authentication,
	} {
		g, err := build(factory)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// single builds a group served in one version from its resources.
func single(factory *registry.StorageFactory, gv schema.GroupVersion, resources ...*registry.Resource) (Group, map[string]*registry.Storage, error) {
	storage := map[string]rest.Storage{}
	built := map[string]*registry.Storage{}
	for _, r := range resources {
		r.Group, r.Version = gv.Group, gv.Version
		s, err := registry.New(r, factory)
		if err != nil {
			return Group{}, nil, err
		}
		built[r.Resource] = s
		for k, v := range s.Map(r.Resource) {
			storage[k] = v
		}
	}
	return Group{
		Name:     gv.Group,
		Versions: map[string]map[string]rest.Storage{gv.Version: storage},
		Order:    []string{gv.Version},
	}, built, nil
}
