// Package core serves the resources of the core API group (the legacy /api/v1): pods, services,
// namespaces, nodes and the rest.
package core

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiffhq/skiff/apiserver/allocator"
	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	"github.com/skiffhq/skiff/apiserver/scheme"
	validation "github.com/skiffhq/skiff/apiserver/validation/core"
)

// Options are what the core resources need beyond storage.
type Options struct {
	Factory *registry.StorageFactory
	// ServiceIPs hands out ClusterIPs; NodePorts hands out node ports.
	ServiceIPs, NodePorts *allocator.Allocator
}

func init() {
	gv := corev1.SchemeGroupVersion
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("Pod"), podFields, &corev1.Pod{})
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("Event"), EventFields, &corev1.Event{})
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("Namespace"), namespaceFields, &corev1.Namespace{})
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("Secret"), secretFields, &corev1.Secret{})
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("Node"), nodeFields, &corev1.Node{})
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("ReplicationController"), rcFields, &corev1.ReplicationController{})
	registry.RegisterFieldSelectors(scheme.Scheme, gv.WithKind("Service"), serviceFields, &corev1.Service{})
}

// Storage returns the storage of every core resource, keyed as the API group wants it.
func Storage(opts Options) (map[string]rest.Storage, error) {
	out := map[string]rest.Storage{}
	add := func(r *registry.Resource) (*registry.Storage, error) {
		r.Version = "v1"
		s, err := registry.New(r, opts.Factory)
		if err != nil {
			return nil, err
		}
		for k, v := range s.Map(r.Resource) {
			out[k] = v
		}
		return s, nil
	}
	for _, r := range simpleResources() {
		if _, err := add(r); err != nil {
			return nil, err
		}
	}

	pods, err := add(podResource())
	if err != nil {
		return nil, err
	}
	out["pods/binding"] = &BindingREST{store: pods.Main.Store}

	rc := rcResource()
	rcs, err := add(rc)
	if err != nil {
		return nil, err
	}
	out["replicationcontrollers/scale"] = registry.NewScale(rcs.Main, rc, registry.Scale{
		Read: func(obj runtime.Object) (int32, int32, string) {
			c := obj.(*corev1.ReplicationController)
			return ptrValue(c.Spec.Replicas), c.Status.Replicas, fields.SelectorFromSet(c.Spec.Selector).String()
		},
		Write: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
	})

	events, err := add(eventResource())
	if err != nil {
		return nil, err
	}
	events.Main.TTLFunc = EventTTL

	services, err := add(serviceResource())
	if err != nil {
		return nil, err
	}
	if opts.ServiceIPs == nil || opts.NodePorts == nil {
		return nil, fmt.Errorf("services need ClusterIP and NodePort allocators")
	}
	alloc := &serviceAllocation{ips: opts.ServiceIPs, ports: opts.NodePorts}
	allocateServices(services.Main.Store, alloc)
	out["services"] = &ServiceREST{REST: services.Main, alloc: alloc}

	nsResource := namespaceResource()
	nsResource.Version = "v1"
	ns, err := newNamespaceStorage(nsResource, opts.Factory)
	if err != nil {
		return nil, err
	}
	out["namespaces"], out["namespaces/status"], out["namespaces/finalize"] = ns.main, ns.status, ns.finalize
	return out, nil
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// simpleResources are the core resources that do nothing but store, default and validate.
func simpleResources() []*registry.Resource {
	return []*registry.Resource{
		{
			Resource: "configmaps", Singular: "configmap", Kind: "ConfigMap", ShortNames: []string{"cm"},
			Namespaced: true,
			New:        func() runtime.Object { return &corev1.ConfigMap{} },
			NewList:    func() runtime.Object { return &corev1.ConfigMapList{} },
			Policy:     registry.Typed(defaults.ConfigMap, validation.ValidateConfigMap, validation.ValidateConfigMapUpdate, nil),
		},
		{
			Resource: "secrets", Singular: "secret", Kind: "Secret", Namespaced: true,
			New:     func() runtime.Object { return &corev1.Secret{} },
			NewList: func() runtime.Object { return &corev1.SecretList{} },
			Policy:  registry.Typed(defaults.Secret, validation.ValidateSecret, validation.ValidateSecretUpdate, nil),
			Fields:  secretFields,
			Hooks: registry.Hooks{
				PrepareForCreate: func(_ context.Context, obj runtime.Object) { mergeStringData(obj.(*corev1.Secret)) },
				PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { mergeStringData(obj.(*corev1.Secret)) },
			},
		},
		{
			Resource: "endpoints", Singular: "endpoints", Kind: "Endpoints", ShortNames: []string{"ep"},
			Namespaced: true, AllowCreateOnUpdate: true,
			New:     func() runtime.Object { return &corev1.Endpoints{} },
			NewList: func() runtime.Object { return &corev1.EndpointsList{} },
			Policy:  registry.Typed(defaults.Endpoints, validation.ValidateEndpoints, validation.ValidateEndpointsUpdate, nil),
		},
		{
			Resource: "serviceaccounts", Singular: "serviceaccount", Kind: "ServiceAccount", ShortNames: []string{"sa"},
			Namespaced: true,
			New:        func() runtime.Object { return &corev1.ServiceAccount{} },
			NewList:    func() runtime.Object { return &corev1.ServiceAccountList{} },
			Policy: registry.Typed(defaults.ServiceAccount, validation.ValidateServiceAccount,
				validation.ValidateServiceAccountUpdate, nil),
		},
		{
			Resource: "nodes", Singular: "node", Kind: "Node", ShortNames: []string{"no"},
			New:     func() runtime.Object { return &corev1.Node{} },
			NewList: func() runtime.Object { return &corev1.NodeList{} },
			Policy: registry.Typed(defaults.Node, validation.ValidateNode, validation.ValidateNodeUpdate,
				validation.ValidateNodeStatusUpdate),
			// A node agent registers its node with the status it has.
			Status: true, ResetOnCreate: func(runtime.Object) {},
			Fields: nodeFields,
		},
		{
			Resource: "persistentvolumes", Singular: "persistentvolume", Kind: "PersistentVolume", ShortNames: []string{"pv"},
			New:     func() runtime.Object { return &corev1.PersistentVolume{} },
			NewList: func() runtime.Object { return &corev1.PersistentVolumeList{} },
			Policy: registry.Typed(defaults.PersistentVolume, validation.ValidatePersistentVolume,
				validation.ValidatePersistentVolumeUpdate, validation.ValidatePersistentVolumeStatusUpdate),
			Status: true,
			ResetOnCreate: func(obj runtime.Object) {
				obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
			},
		},
		{
			Resource: "persistentvolumeclaims", Singular: "persistentvolumeclaim", Kind: "PersistentVolumeClaim",
			ShortNames: []string{"pvc"}, Namespaced: true,
			New:     func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
			NewList: func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
			Policy: registry.Typed(defaults.PersistentVolumeClaim, validation.ValidatePersistentVolumeClaim,
				validation.ValidatePersistentVolumeClaimUpdate, validation.ValidatePersistentVolumeClaimStatusUpdate),
			Status: true,
			ResetOnCreate: func(obj runtime.Object) {
				obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			},
		},
		{
			Resource: "resourcequotas", Singular: "resourcequota", Kind: "ResourceQuota", ShortNames: []string{"quota"},
			Namespaced: true,
			New:        func() runtime.Object { return &corev1.ResourceQuota{} },
			NewList:    func() runtime.Object { return &corev1.ResourceQuotaList{} },
			Policy: registry.Typed(defaults.ResourceQuota, validation.ValidateResourceQuota,
				validation.ValidateResourceQuotaUpdate, validation.ValidateResourceQuotaStatusUpdate),
			Status: true,
		},
		{
			Resource: "limitranges", Singular: "limitrange", Kind: "LimitRange", ShortNames: []string{"limits"},
			Namespaced: true,
			New:        func() runtime.Object { return &corev1.LimitRange{} },
			NewList:    func() runtime.Object { return &corev1.LimitRangeList{} },
			Policy:     registry.Typed(defaults.LimitRange, validation.ValidateLimitRange, validation.ValidateLimitRangeUpdate, nil),
		},
		{
			Resource: "podtemplates", Singular: "podtemplate", Kind: "PodTemplate", Namespaced: true,
			New:     func() runtime.Object { return &corev1.PodTemplate{} },
			NewList: func() runtime.Object { return &corev1.PodTemplateList{} },
			Policy:  registry.Typed(defaults.PodTemplate, validation.ValidatePodTemplate, validation.ValidatePodTemplateUpdate, nil),
		},
	}
}

func rcResource() *registry.Resource {
	return &registry.Resource{
		Resource: "replicationcontrollers", Singular: "replicationcontroller", Kind: "ReplicationController",
		ShortNames: []string{"rc"}, Categories: []string{"all"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.ReplicationController{} },
		NewList: func() runtime.Object { return &corev1.ReplicationControllerList{} },
		Policy: registry.Typed(defaults.ReplicationController, validation.ValidateReplicationController,
			validation.ValidateReplicationControllerUpdate, validation.ValidateReplicationControllerStatusUpdate),
		Status: true, Generation: true,
		Fields: rcFields,
	}
}

func eventResource() *registry.Resource {
	return &registry.Resource{
		Resource: "events", Singular: "event", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true,
		AllowCreateOnUpdate: true,
		New:                 func() runtime.Object { return &corev1.Event{} },
		NewList:             func() runtime.Object { return &corev1.EventList{} },
		Policy:              registry.Typed(defaults.Event, validation.ValidateEvent, validation.ValidateEventUpdate, nil),
		Fields:              EventFields,
	}
}

// EventTTL keeps events for an hour, as kube-apiserver's default --event-ttl.
func EventTTL(obj runtime.Object, existing uint64, update bool) (uint64, error) {
	return 3600, nil
}

// EventFields are the fields events may be selected by, in both event APIs.
func EventFields(obj runtime.Object) fields.Set {
	e := obj.(*corev1.Event)
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}

// mergeStringData moves a secret's write-only stringData into data, where it wins over equal keys.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		s.StringData = nil
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

func secretFields(obj runtime.Object) fields.Set {
	return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
}

func nodeFields(obj runtime.Object) fields.Set {
	return fields.Set{"spec.unschedulable": fmt.Sprint(obj.(*corev1.Node).Spec.Unschedulable)}
}

func rcFields(obj runtime.Object) fields.Set {
	return fields.Set{"status.replicas": fmt.Sprint(obj.(*corev1.ReplicationController).Status.Replicas)}
}

func namespaceFields(obj runtime.Object) fields.Set {
	return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
}

func serviceFields(obj runtime.Object) fields.Set {
	s := obj.(*corev1.Service)
	return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
}
