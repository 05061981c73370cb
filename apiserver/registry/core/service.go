package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiffhq/skiff/apiserver/allocator"
	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	validation "github.com/skiffhq/skiff/apiserver/validation/core"
)

func serviceResource() *registry.Resource {
	return &registry.Resource{
		Resource: "services", Singular: "service", Kind: "Service", ShortNames: []string{"svc"},
		Categories: []string{"all"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.Service{} },
		NewList: func() runtime.Object { return &corev1.ServiceList{} },
		Policy: registry.Typed(defaults.Service, validation.ValidateService, validation.ValidateServiceUpdate,
			validation.ValidateServiceStatusUpdate),
		Status: true,
		Fields: serviceFields,
		Hooks:  registry.Hooks{PrepareForUpdate: dropTypeDependentFields},
	}
}

// dropTypeDependentFields clears, when a Service changes type, what the old type had (often by default)
// and the new type forbids, if the client sent it back unchanged, as upstream: `kubectl edit` of a NodePort
// Service to type ClusterIP returns the externalTrafficPolicy it read. Node ports and the health check
// port are the allocator's.
func dropTypeDependentFields(_ context.Context, obj, old runtime.Object) {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	externallyAccessible := func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort ||
			(s.Spec.Type == corev1.ServiceTypeClusterIP && len(s.Spec.ExternalIPs) > 0)
	}
	if externallyAccessible(oldSvc) && !externallyAccessible(svc) &&
		svc.Spec.ExternalTrafficPolicy == oldSvc.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if oldSvc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if a, b := svc.Spec.AllocateLoadBalancerNodePorts, oldSvc.Spec.AllocateLoadBalancerNodePorts; a != nil && b != nil && *a == *b {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if a, b := svc.Spec.LoadBalancerClass, oldSvc.Spec.LoadBalancerClass; a != nil && b != nil && *a == *b {
			svc.Spec.LoadBalancerClass = nil
		}
	}
}

// serviceAllocation gives Services their ClusterIPs and NodePorts, and takes them back.
type serviceAllocation struct {
	ips, ports *allocator.Allocator
}

// allocateServices hooks allocation into the services store: values are taken before an object is
// written and given back when the write fails or the object goes. Updates are settled by ServiceREST.
func allocateServices(store *genericregistry.Store, a *serviceAllocation) {
	store.BeginCreate = func(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
		svc := obj.(*corev1.Service)
		taken, err := a.allocate(ctx, svc, nil, dryRun(options.DryRun))
		return a.finishCreate(taken, dryRun(options.DryRun)), err
	}
	store.BeginUpdate = func(ctx context.Context, obj, old runtime.Object, options *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
		svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
		taken, err := a.allocate(ctx, svc, oldSvc, dryRun(options.DryRun))
		if tx, ok := ctx.Value(updateKey{}).(*update); ok {
			tx.taken = append(tx.taken, taken...)
			tx.old = oldSvc
		}
		return nothing, err
	}
	store.AfterDelete = func(obj runtime.Object, options *metav1.DeleteOptions) {
		if dryRun(options.DryRun) {
			return
		}
		svc := obj.(*corev1.Service)
		a.release(context.Background(), held(svc))
	}
}

func nothing(context.Context, bool) {}

// ServiceREST serves services. Its updates give back what they no longer need only once they know
// what was stored: the store may run an update several times (against a cached, stale object first),
// and calls its finish hook before etcd has accepted the write.
type ServiceREST struct {
	*registry.REST
	alloc *serviceAllocation
}

// update is what the attempts of one service update took, and the object the last one changed.
type update struct {
	taken []value
	old   *corev1.Service
}

type updateKey struct{}

// Update updates the service, then releases every value an attempt took or the old object held that
// the service as stored does not hold.
func (r *ServiceREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	tx := &update{}
	obj, created, err := r.REST.Update(context.WithValue(ctx, updateKey{}, tx), name, objInfo, createValidation, updateValidation, forceAllowCreate, options)
	if dryRun(options.DryRun) {
		return obj, created, err
	}
	candidates := tx.taken
	var stored *corev1.Service
	if err == nil {
		stored, _ = obj.(*corev1.Service)
		if tx.old != nil {
			candidates = append(candidates, held(tx.old)...)
		}
	} else if current, getErr := r.REST.Get(ctx, name, &metav1.GetOptions{}); getErr == nil {
		stored, _ = current.(*corev1.Service)
	} else if !apierrors.IsNotFound(getErr) {
		// Without knowing what is stored nothing can be released safely.
		return obj, created, err
	}
	keep := map[value]bool{}
	if stored != nil {
		for _, v := range held(stored) {
			keep[v] = true
		}
	}
	var release []value
	for _, v := range candidates {
		if !keep[v] {
			keep[v] = true
			release = append(release, v)
		}
	}
	r.alloc.release(ctx, release)
	return obj, created, err
}

// value is one allocated ClusterIP or NodePort.
type value struct {
	ip    bool
	value string
	owner string
}

func owner(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// allocate fills in and takes the ClusterIP and NodePorts svc needs that old (nil on create) does not hold.
func (a *serviceAllocation) allocate(ctx context.Context, svc, old *corev1.Service, dry bool) (taken []value, err error) {
	defer func() {
		if err != nil {
			a.release(ctx, taken)
			taken = nil
		}
	}()
	spec := &svc.Spec
	who := owner(svc)

	if spec.Type == corev1.ServiceTypeExternalName {
		spec.ClusterIP, spec.ClusterIPs, spec.IPFamilies, spec.IPFamilyPolicy = "", nil, nil, nil
	} else {
		if old != nil && old.Spec.Type != corev1.ServiceTypeExternalName && spec.ClusterIP == "" {
			// An update keeps the address the service has.
			spec.ClusterIP = old.Spec.ClusterIP
		}
		switch {
		case spec.ClusterIP == corev1.ClusterIPNone:
		case spec.ClusterIP == "":
			ip, err := a.ips.AllocateNext(ctx, who, dry)
			if err != nil {
				return taken, ipError(spec.ClusterIP, a.ips, err)
			}
			spec.ClusterIP = ip
			taken = append(taken, value{ip: true, value: ip, owner: who})
		case old == nil || old.Spec.ClusterIP != spec.ClusterIP:
			if err := a.ips.Allocate(ctx, spec.ClusterIP, who, dry); err != nil {
				return taken, ipError(spec.ClusterIP, a.ips, err)
			}
			taken = append(taken, value{ip: true, value: spec.ClusterIP, owner: who})
		}
		spec.ClusterIPs = []string{spec.ClusterIP}
		if spec.IPFamilyPolicy == nil {
			single := corev1.IPFamilyPolicySingleStack
			spec.IPFamilyPolicy = &single
		}
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
	}

	if !needsNodePorts(svc) {
		for i := range spec.Ports {
			spec.Ports[i].NodePort = 0
		}
	} else {
		oldPorts := map[int32]bool{}
		if old != nil && needsNodePorts(old) {
			for _, p := range old.Spec.Ports {
				oldPorts[p.NodePort] = true
			}
		}
		mine := map[int32]bool{}
		for i := range spec.Ports {
			p := &spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			switch {
			case p.NodePort == 0 && old != nil:
				// An update keeps the node port the same port had.
				if n := oldNodePort(old, p); n != 0 {
					p.NodePort = n
					mine[n] = true
					continue
				}
				fallthrough
			case p.NodePort == 0:
				v, err := a.ports.AllocateNext(ctx, who, dry)
				if err != nil {
					return taken, portError(path, 0, a.ports, err)
				}
				n, _ := strconv.Atoi(v)
				p.NodePort = int32(n)
				taken = append(taken, value{value: v, owner: who})
			case oldPorts[p.NodePort] || mine[p.NodePort]:
				// Already held by this service (one node port may serve TCP and UDP alike).
			default:
				if err := a.ports.Allocate(ctx, strconv.Itoa(int(p.NodePort)), who, dry); err != nil {
					return taken, portError(path, p.NodePort, a.ports, err)
				}
				taken = append(taken, value{value: strconv.Itoa(int(p.NodePort)), owner: who})
			}
			mine[p.NodePort] = true
		}
	}

	if needsHealthCheckPort(svc) && spec.HealthCheckNodePort == 0 {
		if old != nil && old.Spec.HealthCheckNodePort != 0 && needsHealthCheckPort(old) {
			spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
		} else {
			v, err := a.ports.AllocateNext(ctx, who, dry)
			if err != nil {
				return taken, portError(field.NewPath("spec", "healthCheckNodePort"), 0, a.ports, err)
			}
			n, _ := strconv.Atoi(v)
			spec.HealthCheckNodePort = int32(n)
			taken = append(taken, value{value: v, owner: who})
		}
	} else if !needsHealthCheckPort(svc) {
		spec.HealthCheckNodePort = 0
	}
	return taken, nil
}

// finishCreate returns the store's FinishFunc of a create: on failure it gives back what was taken.
func (a *serviceAllocation) finishCreate(taken []value, dry bool) genericregistry.FinishFunc {
	return func(ctx context.Context, success bool) {
		if !dry && !success {
			a.release(ctx, taken)
		}
	}
}

func (a *serviceAllocation) release(ctx context.Context, values []value) {
	for _, v := range values {
		alloc := a.ports
		if v.ip {
			alloc = a.ips
		}
		_ = alloc.Release(ctx, v.value, v.owner)
	}
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHealthCheckPort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func oldNodePort(old *corev1.Service, p *corev1.ServicePort) int32 {
	for _, o := range old.Spec.Ports {
		if o.NodePort != 0 && o.Port == p.Port && o.Protocol == p.Protocol && o.Name == p.Name {
			return o.NodePort
		}
	}
	return 0
}

// held is every value svc holds.
func held(svc *corev1.Service) []value {
	var out []value
	who := owner(svc)
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		out = append(out, value{ip: true, value: svc.Spec.ClusterIP, owner: who})
	}
	seen := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && !seen[p.NodePort] {
			seen[p.NodePort] = true
			out = append(out, value{value: strconv.Itoa(int(p.NodePort)), owner: who})
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 && !seen[svc.Spec.HealthCheckNodePort] {
		out = append(out, value{value: strconv.Itoa(int(svc.Spec.HealthCheckNodePort)), owner: who})
	}
	return out
}

func ipError(ip string, a *allocator.Allocator, err error) error {
	path := field.NewPath("spec", "clusterIPs").Index(0)
	var msg string
	switch {
	case errors.Is(err, allocator.ErrAllocated):
		msg = fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)
	case errors.Is(err, allocator.ErrOutOfRange):
		msg = fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", ip, a.Range())
	case errors.Is(err, allocator.ErrFull):
		msg = "failed to allocate a serviceIP: range is full"
	default:
		return apierrors.NewInternalError(err)
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), "",
		field.ErrorList{field.Invalid(path, []string{ip}, msg)})
}

func portError(path *field.Path, port int32, a *allocator.Allocator, err error) error {
	var e *field.Error
	switch {
	case errors.Is(err, allocator.ErrAllocated):
		e = field.Invalid(path, port, "provided port is already allocated")
	case errors.Is(err, allocator.ErrOutOfRange):
		e = field.Invalid(path, port, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", a.Range()))
	case errors.Is(err, allocator.ErrFull):
		e = field.Invalid(path, port, "failed to allocate a nodePort: range is full")
	default:
		return apierrors.NewInternalError(err)
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), "", field.ErrorList{e})
}
