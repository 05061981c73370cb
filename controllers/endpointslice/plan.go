package endpointslice

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ControllerName is the managed-by label value of the slices this controller owns, as upstream.
const ControllerName = "endpointslice-controller.k8s.io"

// DefaultMaxEndpointsPerSlice is upstream's --max-endpoints-per-slice default.
const DefaultMaxEndpointsPerSlice = 100

// changes are the writes that bring a Service's EndpointSlices to the desired state.
type changes struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

func (c *changes) add(o changes) {
	c.create = append(c.create, o.create...)
	c.update = append(c.update, o.update...)
	c.delete = append(c.delete, o.delete...)
}

func (c *changes) empty() bool { return len(c.create)+len(c.update)+len(c.delete) == 0 }

// planner computes the EndpointSlice changes of one Service.
type planner struct {
	svc *corev1.Service
	// nodeOf returns the Node of the given name, or nil when there is none.
	nodeOf      func(name string) *corev1.Node
	maxPerSlice int
}

// plan compares the endpoints the Service's pods make with those in the existing slices (those labeled
// for the Service and managed by this controller, not being deleted) and returns the changes, in the
// manner of upstream's reconciler: endpoints are updated in place in the slices holding them, new ones
// fill slices already being written first, then the unchanged slice they best fill, and only then new
// slices; slices of port sets or address families no longer wanted, or left empty, are deleted (or
// reused for a slice that would be created). A Service with no endpoints keeps one empty placeholder
// slice. skipped names pods left out because their Node is unknown, which calls for a later retry.
func (p *planner) plan(pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice) (c changes, skipped []string) {
	types := addressTypes(p.svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	var unsupported []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if slices.Contains(types, s.AddressType) {
			byType[s.AddressType] = append(byType[s.AddressType], s)
		} else {
			unsupported = append(unsupported, s)
		}
	}
	for _, t := range types {
		tc, ts := p.planAddressType(pods, byType[t], t)
		c.add(tc)
		skipped = append(skipped, ts...)
	}
	c.delete = append(c.delete, unsupported...)
	return c, skipped
}

func (p *planner) planAddressType(pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, addressType discoveryv1.AddressType) (changes, []string) {
	var c changes
	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if ownedBy(s, p.svc) {
			k := portsKey(s.Ports)
			existingByPorts[k] = append(existingByPorts[k], s)
		} else {
			// Left by an earlier Service of the same name.
			c.delete = append(c.delete, s)
		}
	}

	desired := map[string]map[string]discoveryv1.Endpoint{}
	desiredPorts := map[string][]discoveryv1.EndpointPort{}
	var skipped []string
	for _, pod := range pods {
		if !ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ports := endpointPorts(p.svc, pod)
		k := portsKey(ports)
		node := p.nodeOf(pod.Spec.NodeName)
		if node == nil && !p.svc.Spec.PublishNotReadyAddresses {
			// Retried later; upstream leaves such pods out rather than block the others.
			skipped = append(skipped, pod.Name)
			continue
		}
		ep := podToEndpoint(pod, node, p.svc, addressType)
		if len(ep.Addresses) == 0 {
			continue
		}
		if desired[k] == nil {
			desired[k] = map[string]discoveryv1.Endpoint{}
			desiredPorts[k] = ports
		}
		desired[k][endpointKey(&ep)] = ep
	}

	for _, k := range slices.Sorted(maps.Keys(desired)) {
		c.add(p.planPorts(existingByPorts[k], desired[k], desiredPorts[k], addressType))
	}
	for _, k := range slices.Sorted(maps.Keys(existingByPorts)) {
		if _, ok := desired[k]; !ok {
			c.delete = append(c.delete, existingByPorts[k]...)
		}
	}

	// A Service with no endpoints still gets one (empty) slice, so that readers can tell "no endpoints"
	// from "not processed yet".
	if len(existing) == len(c.delete) && len(c.create) == 0 {
		placeholder := p.newSlice(nil, addressType)
		if len(c.delete) == 1 && p.isPlaceholder(c.delete[0], addressType) {
			c.delete = nil
		} else {
			c.create = append(c.create, placeholder)
		}
	}
	p.reuseDeleted(&c)
	return c, skipped
}

// planPorts is the part of the plan for the slices of one port set: existing are the Service's slices
// with these ports, desired the endpoints with them, by endpointKey.
func (p *planner) planPorts(existing []*discoveryv1.EndpointSlice, desired map[string]discoveryv1.Endpoint,
	ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) changes {
	var c changes
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	var updated, unchanged []*discoveryv1.EndpointSlice

	// 1. Keep the endpoints still wanted where they are, updated if they changed; drop the others.
	for _, s := range existing {
		var kept []discoveryv1.Endpoint
		changed := false
		for i := range s.Endpoints {
			k := endpointKey(&s.Endpoints[i])
			want, ok := desired[k]
			if !ok {
				continue
			}
			if !endpointsEqualBeyondKey(&want, &s.Endpoints[i]) {
				changed = true
			}
			kept = append(kept, want)
			delete(desired, k)
		}
		labels, labelsChanged := sliceLabels(s, p.svc)
		switch {
		case changed || len(kept) != len(s.Endpoints):
			if len(kept) == 0 {
				c.delete = append(c.delete, s)
				continue
			}
			u := s.DeepCopy()
			u.Endpoints, u.Labels = kept, labels
			updated = append(updated, u)
		case labelsChanged:
			u := s.DeepCopy()
			u.Labels = labels
			updated = append(updated, u)
		default:
			unchanged = append(unchanged, s)
		}
	}

	remaining := make([]discoveryv1.Endpoint, 0, len(desired))
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		remaining = append(remaining, desired[k])
	}
	take := func(s *discoveryv1.EndpointSlice) {
		n := min(p.maxPerSlice-len(s.Endpoints), len(remaining))
		if n > 0 {
			s.Endpoints = append(s.Endpoints, remaining[:n]...)
			remaining = remaining[n:]
		}
	}

	// 2. Fill the slices being written anyway, fullest first.
	slices.SortStableFunc(updated, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(len(b.Endpoints), len(a.Endpoints)) })
	for _, s := range updated {
		take(s)
	}

	// 3. Put what is left in the unchanged slice it fills best, or in new slices.
	for len(remaining) > 0 {
		var fill *discoveryv1.EndpointSlice
		if len(remaining) < p.maxPerSlice {
			if i := sliceToFill(unchanged, len(remaining), p.maxPerSlice); i >= 0 {
				fill = unchanged[i].DeepCopy()
				unchanged = slices.Delete(unchanged, i, i+1)
				updated = append(updated, fill)
			}
		}
		if fill == nil {
			fill = p.newSlice(ports, addressType)
			c.create = append(c.create, fill)
		}
		take(fill)
	}
	c.update = append(c.update, updated...)
	return c
}

// reuseDeleted turns creations into updates of slices that would be deleted, as upstream's finalize:
// fewer writes, and names stay stable.
func (p *planner) reuseDeleted(c *changes) {
	for i := 0; i < len(c.delete) && len(c.create) > 0; {
		old, s := c.delete[i], c.create[len(c.create)-1]
		if old.AddressType != s.AddressType || !ownedBy(old, p.svc) {
			i++
			continue
		}
		s.Name, s.GenerateName, s.ResourceVersion, s.UID = old.Name, "", old.ResourceVersion, old.UID
		s.Annotations = maps.Clone(old.Annotations)
		c.create = c.create[:len(c.create)-1]
		c.update = append(c.update, s)
		c.delete = slices.Delete(c.delete, i, i+1)
	}
}

// sliceToFill is the index of the slice that numEndpoints would fill closest to max, or -1.
func sliceToFill(candidates []*discoveryv1.EndpointSlice, numEndpoints, max int) int {
	best, bestRoom := -1, max
	for i, s := range candidates {
		room := max - (numEndpoints + len(s.Endpoints))
		if room >= 0 && room < bestRoom {
			best, bestRoom = i, room
			if room == 0 {
				break
			}
		}
	}
	return best
}

// newSlice is an empty slice of the Service for the given ports and address type.
func (p *planner) newSlice(ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    slicePrefix(p.svc.Name),
			Namespace:       p.svc.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(p.svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: addressType,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	s.Labels, _ = sliceLabels(s, p.svc)
	return s
}

// isPlaceholder says whether s is the empty slice the Service would get as a placeholder.
func (p *planner) isPlaceholder(s *discoveryv1.EndpointSlice, addressType discoveryv1.AddressType) bool {
	labels, changed := sliceLabels(s, p.svc)
	return len(s.Endpoints) == 0 && len(s.Ports) == 0 && s.AddressType == addressType && ownedBy(s, p.svc) &&
		!changed && maps.Equal(labels, s.Labels)
}

// slicePrefix is the generateName of the Service's slices: "<service>-" unless that is too long.
func slicePrefix(service string) string {
	prefix := service + "-"
	if len(validation.NameIsDNSSubdomain(prefix, true)) != 0 {
		return service
	}
	return prefix
}

// sliceLabels are the labels slice s of svc should have: the Service's labels, the headless label for
// a Service without a cluster IP, and the service-name and managed-by labels. changed says whether the
// labels copied from the Service differ from those s has.
func sliceLabels(s *discoveryv1.EndpointSlice, svc *corev1.Service) (map[string]string, bool) {
	have, want := map[string]string{}, map[string]string{}
	for k, v := range s.Labels {
		if !reservedLabel(k) {
			have[k] = v
		}
	}
	for k, v := range svc.Labels {
		if !reservedLabel(k) {
			want[k] = v
		}
	}
	changed := !maps.Equal(have, want)
	if !IsServiceIPSet(svc) {
		want[corev1.IsHeadlessService] = ""
	}
	want[discoveryv1.LabelServiceName] = svc.Name
	want[discoveryv1.LabelManagedBy] = ControllerName
	return want, changed
}

func reservedLabel(k string) bool {
	return k == discoveryv1.LabelServiceName || k == discoveryv1.LabelManagedBy || k == corev1.IsHeadlessService
}

// ownedBy says whether the slice belongs to this very Service (not an earlier one of the same name).
func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// addressTypes are the address types of the Service's slices: one per IP family it has, or, for
// Services the API server gave no families, that of its cluster IP, or both for a headless one.
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if IsServiceIPSet(svc) {
		if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && a.Is6() && !a.Is4In6() {
			return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
		}
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
}

// endpointPorts are the ports of the Service as the pod serves them, named targetPorts resolved; ports
// the pod does not serve are left out.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		n, ok := FindPort(pod, sp)
		if !ok {
			continue
		}
		name, protocol := sp.Name, sp.Protocol
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &n, Protocol: &protocol, AppProtocol: sp.AppProtocol})
	}
	return ports
}

// portsKey identifies a set of ports, whatever their order.
func portsKey(ports []discoveryv1.EndpointPort) string {
	keys := make([]string, 0, len(ports))
	for _, p := range ports {
		keys = append(keys, fmt.Sprintf("%s/%d/%s/%s", deref(p.Name), derefInt(p.Port), derefProto(p.Protocol), deref(p.AppProtocol)))
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// podToEndpoint is the pod's endpoint in slices of the address type.
func podToEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, addressType discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// For compatibility, a terminating pod is never ready unless not-ready addresses are published.
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  podAddresses(pod, addressType),
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		nodeName := pod.Spec.NodeName
		ep.NodeName = &nodeName
	}
	if node != nil {
		if zone := node.Labels[corev1.LabelTopologyZone]; zone != "" {
			ep.Zone = &zone
		}
	}
	if ShouldSetHostname(pod, svc) {
		hostname := pod.Spec.Hostname
		ep.Hostname = &hostname
	}
	return ep
}

// podAddresses are the pod's IPs of the address type, in canonical form.
func podAddresses(pod *corev1.Pod, addressType discoveryv1.AddressType) []string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	addresses := []string{}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		v6 := a.Is6() && !a.Is4In6()
		if v6 == (addressType == discoveryv1.AddressTypeIPv6) {
			addresses = append(addresses, a.Unmap().String())
		}
	}
	return addresses
}

// endpointKey identifies an endpoint by what does not change in place: its addresses, hostname and
// pod, so that condition, node or zone changes update the endpoint where it is.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := slices.Clone(ep.Addresses)
	slices.Sort(addrs)
	k := strings.Join(addrs, ",") + "|" + deref(ep.Hostname)
	if ep.TargetRef != nil {
		k += "|" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return k
}

// endpointsEqualBeyondKey compares what endpointKey leaves out, ignoring the target's resource version.
func endpointsEqualBeyondKey(a, b *discoveryv1.Endpoint) bool {
	if deref(a.NodeName) != deref(b.NodeName) || (a.NodeName == nil) != (b.NodeName == nil) ||
		deref(a.Zone) != deref(b.Zone) || (a.Zone == nil) != (b.Zone == nil) ||
		!boolPtrEqual(a.Conditions.Ready, b.Conditions.Ready) ||
		!boolPtrEqual(a.Conditions.Serving, b.Conditions.Serving) ||
		!boolPtrEqual(a.Conditions.Terminating, b.Conditions.Terminating) {
		return false
	}
	if (a.TargetRef == nil) != (b.TargetRef == nil) {
		return false
	}
	if a.TargetRef != nil {
		ra, rb := *a.TargetRef, *b.TargetRef
		ra.ResourceVersion, rb.ResourceVersion = "", ""
		return ra == rb
	}
	return true
}

func boolPtrEqual(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int32) int32 {
	if n == nil {
		return 0
	}
	return *n
}

func derefProto(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return ""
	}
	return *p
}

// LastChangeTriggerTime is the time of the latest change to the Service or its pods that the endpoints
// reflect, for the endpoints.kubernetes.io/last-change-trigger-time annotation: the Service's creation,
// a pod's readiness change or the start of its termination. Upstream keeps per-Service memory to report
// the oldest change not yet written; this keeps none and reports the newest.
func LastChangeTriggerTime(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	t := svc.CreationTimestamp.Time
	for _, pod := range pods {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.LastTransitionTime.After(t) {
				t = c.LastTransitionTime.Time
			}
		}
		if pod.DeletionTimestamp != nil && pod.DeletionTimestamp.After(t) {
			t = pod.DeletionTimestamp.Time
		}
	}
	return t
}
