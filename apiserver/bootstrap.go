package apiserver

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/version"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/apiserver/allocator"
)

// systemNamespaces exist in every cluster from its first start.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// addPostStartHooks adds what runs once the server serves: the system namespaces and the kubernetes
// Service are made (the server reports ready only after), and CRD groups are kept in the legacy /apis list.
func addPostStartHooks(front, core *genericapiserver.GenericAPIServer, crds apiextensionsinformers.CustomResourceDefinitionInformer, s *Server, ips *allocator.IPRange) error {
	if err := front.AddPostStartHook("skiff-bootstrap", func(hook genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(hook.LoopbackClientConfig)
		if err != nil {
			return err
		}
		_, portStr, _ := net.SplitHostPort(s.Address)
		port, _ := strconv.Atoi(portStr)
		b := &bootstrap{client: client, serviceIP: ips.First(), address: s.opts.AdvertiseAddress, port: int32(port)}
		return wait.PollUntilContextCancel(hook.Context, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			if err := b.run(ctx); err != nil {
				s.opts.Logger.Sugar().Infow("bootstrap not done yet", "err", err)
				return false, nil
			}
			return true, nil
		})
	}); err != nil {
		return err
	}
	return front.AddPostStartHook("skiff-legacy-discovery", func(hook genericapiserver.PostStartHookContext) error {
		syncLegacyDiscovery(core, crds)
		return nil
	})
}

type bootstrap struct {
	client    kubernetes.Interface
	serviceIP string
	address   string
	port      int32
}

func (b *bootstrap) run(ctx context.Context) error {
	for _, name := range systemNamespaces {
		_, err := b.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	meta := metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
		Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}}
	svc := &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{
		Type:      corev1.ServiceTypeClusterIP,
		ClusterIP: b.serviceIP,
		Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
			TargetPort: intstr.FromInt32(b.port)}},
		SessionAffinity: corev1.ServiceAffinityNone,
	}}
	existing, err := b.client.CoreV1().Services(meta.Namespace).Get(ctx, meta.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := b.client.CoreV1().Services(meta.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("kubernetes service: %w", err)
		}
	case err != nil:
		return err
	case !reflect.DeepEqual(existing.Spec.Ports, svc.Spec.Ports):
		existing.Spec.Ports = svc.Spec.Ports
		if _, err := b.client.CoreV1().Services(meta.Namespace).Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("kubernetes service: %w", err)
		}
	}

	if b.address == "" {
		return nil
	}
	ep := &corev1.Endpoints{ObjectMeta: meta, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: b.address}},
		Ports:     []corev1.EndpointPort{{Name: "https", Port: b.port, Protocol: corev1.ProtocolTCP}},
	}}}
	ep.Labels = map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}
	if _, err := b.client.CoreV1().Endpoints(meta.Namespace).Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("kubernetes endpoints: %w", err)
	}

	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{b.address},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(b.port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	slices := b.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	old, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && !servesEndpointSlices(b.client):
		// Without the discovery group there is no slice to keep.
	case apierrors.IsNotFound(err):
		if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("kubernetes endpointslice: %w", err)
		}
	case err != nil:
		return err
	case !reflect.DeepEqual(old.Endpoints, slice.Endpoints) || !reflect.DeepEqual(old.Ports, slice.Ports):
		old.Endpoints, old.Ports = slice.Endpoints, slice.Ports
		if _, err := slices.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("kubernetes endpointslice: %w", err)
		}
	}
	return nil
}

// syncLegacyDiscovery keeps the groups of CRDs (and apiextensions.k8s.io itself) in the core server's
// unaggregated /apis list, which clients without aggregated discovery read.
func syncLegacyDiscovery(core *genericapiserver.GenericAPIServer, crds apiextensionsinformers.CustomResourceDefinitionInformer) {
	apiext := apiextensionsv1.SchemeGroupVersion
	core.DiscoveryGroupManager.AddGroup(metav1.APIGroup{
		Name:             apiext.Group,
		Versions:         []metav1.GroupVersionForDiscovery{{GroupVersion: apiext.String(), Version: apiext.Version}},
		PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: apiext.String(), Version: apiext.Version},
	})
	known := map[string]bool{}
	resync := func() {
		all, err := crds.Lister().List(labels.Everything())
		if err != nil {
			return
		}
		versions := map[string]map[string]bool{}
		for _, crd := range all {
			for _, v := range crd.Spec.Versions {
				if v.Served {
					if versions[crd.Spec.Group] == nil {
						versions[crd.Spec.Group] = map[string]bool{}
					}
					versions[crd.Spec.Group][v.Name] = true
				}
			}
		}
		for group, vs := range versions {
			var list []string
			for v := range vs {
				list = append(list, v)
			}
			sort.Slice(list, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(list[i], list[j]) > 0 })
			g := metav1.APIGroup{Name: group}
			for _, v := range list {
				g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
			}
			g.PreferredVersion = g.Versions[0]
			core.DiscoveryGroupManager.AddGroup(g)
			known[group] = true
		}
		for group := range known {
			if versions[group] == nil {
				core.DiscoveryGroupManager.RemoveGroup(group)
				delete(known, group)
			}
		}
	}
	// Event handlers run one at a time, so resync needs no lock of its own.
	crds.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { resync() },
		UpdateFunc: func(any, any) { resync() },
		DeleteFunc: func(any) { resync() },
	})
}

func servesEndpointSlices(client kubernetes.Interface) bool {
	_, err := client.Discovery().ServerResourcesForGroupVersion(discoveryv1.SchemeGroupVersion.String())
	return err == nil
}
