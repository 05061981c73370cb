// Package scheme holds the runtime.Scheme of skiff's API server.
//
// skiff serves the k8s.io/api external types directly. The generic handlers of k8s.io/apiserver convert
// every request to the "__internal" version of its group (the hub) before the registry sees it, so each
// external type is registered a second time as its own group's internal version: the hub conversion then
// costs nothing. Two groups are served in more than one shape and so do convert: autoscaling, whose hub is
// autoscaling/v2, and events.k8s.io, whose hub is core/v1 Event (both event APIs share one storage, as
// upstream).
package scheme

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/skiffhq/skiff/apiserver/conversion"
)

// Scheme knows every served type, external and (as the same Go type) internal. It is filled once at
// package initialisation and only read afterwards.
var Scheme = runtime.NewScheme()

// Codecs serializes and deserializes the types of Scheme.
var Codecs = serializer.NewCodecFactory(Scheme)

// ParameterCodec decodes query parameters into option types.
var ParameterCodec = runtime.NewParameterCodec(Scheme)

// group is one served API group: its versions' AddToScheme functions, and the version whose types are the hub.
type group struct {
	install []func(*runtime.Scheme) error
	hub     schema.GroupVersion
	// extraHub adds types of other packages to the group's internal version.
	extraHub []runtime.Object
}

var groups = []group{
	{install: fns(corev1.AddToScheme), hub: corev1.SchemeGroupVersion},
	{install: fns(appsv1.AddToScheme), hub: appsv1.SchemeGroupVersion},
	{install: fns(batchv1.AddToScheme), hub: batchv1.SchemeGroupVersion},
	{install: fns(autoscalingv2.AddToScheme, autoscalingv1.AddToScheme), hub: autoscalingv2.SchemeGroupVersion,
		extraHub: []runtime.Object{&autoscalingv1.Scale{}}},
	{install: fns(coordinationv1.AddToScheme), hub: coordinationv1.SchemeGroupVersion},
	{install: fns(discoveryv1.AddToScheme), hub: discoveryv1.SchemeGroupVersion},
	{install: fns(policyv1.AddToScheme), hub: policyv1.SchemeGroupVersion},
	{install: fns(storagev1.AddToScheme), hub: storagev1.SchemeGroupVersion},
	{install: fns(schedulingv1.AddToScheme), hub: schedulingv1.SchemeGroupVersion},
	{install: fns(rbacv1.AddToScheme), hub: rbacv1.SchemeGroupVersion},
	{install: fns(networkingv1.AddToScheme), hub: networkingv1.SchemeGroupVersion},
	{install: fns(authenticationv1.AddToScheme), hub: authenticationv1.SchemeGroupVersion},
	{install: fns(authorizationv1.AddToScheme), hub: authorizationv1.SchemeGroupVersion},
	{install: fns(eventsv1.AddToScheme)},
}

func fns(f ...func(*runtime.Scheme) error) []func(*runtime.Scheme) error { return f }

func init() {
	for _, g := range groups {
		for _, install := range g.install {
			utilruntime.Must(install(Scheme))
		}
		if !g.hub.Empty() {
			registerHub(g.hub, g.extraHub)
		}
	}
	// events.k8s.io keeps its events in core's storage: its hub is core/v1 Event.
	internalEvents := schema.GroupVersion{Group: eventsv1.GroupName, Version: runtime.APIVersionInternal}
	Scheme.AddKnownTypes(internalEvents, &corev1.Event{}, &corev1.EventList{})
	utilruntime.Must(conversion.AddToScheme(Scheme))

	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
	registerDefaults(Scheme)
}

// registerHub registers the object kinds of hub a second time as the internal version of hub's group.
// Option types and WatchEvent stay external only: they come from meta/v1 and would clash.
func registerHub(hub schema.GroupVersion, extra []runtime.Object) {
	internal := schema.GroupVersion{Group: hub.Group, Version: runtime.APIVersionInternal}
	for kind, t := range Scheme.KnownTypes(hub) {
		if kind == "WatchEvent" || strings.HasSuffix(kind, "Options") || t.PkgPath() == "k8s.io/apimachinery/pkg/apis/meta/v1" {
			continue
		}
		obj, ok := runtimeObject(t)
		if !ok {
			continue
		}
		Scheme.AddKnownTypeWithName(internal.WithKind(kind), obj)
	}
	for _, obj := range extra {
		Scheme.AddKnownTypes(internal, obj)
	}
}
