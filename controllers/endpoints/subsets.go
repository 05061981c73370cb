package endpoints

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/controllers/endpointslice"
)

// maxCapacity is how many addresses one Endpoints object holds at most, as upstream.
const maxCapacity = 1000

// desiredSubsets are the subsets of the Endpoints of svc, whose selector matched pods: one address per
// pod with an IP of the Service's family, ready or not, under each service port the pod serves, packed
// into the canonical layout (see repack).
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	publishNotReady := svc.Spec.PublishNotReadyAddresses
	var subsets []corev1.EndpointSubset
	for _, pod := range pods {
		if !endpointslice.ShouldPodBeInEndpoints(pod, publishNotReady) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue
		}
		ready := publishNotReady || endpointslice.IsPodReady(pod)
		if len(svc.Spec.Ports) == 0 {
			// Headless Services may have no ports: their addresses stand alone.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				subsets = append(subsets, subsetOf(addr, nil, ready))
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := endpointslice.FindPort(pod, sp)
			if !ok {
				continue
			}
			subsets = append(subsets, subsetOf(addr, &corev1.EndpointPort{
				Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol,
			}, ready))
		}
	}
	return repack(subsets)
}

func subsetOf(addr corev1.EndpointAddress, port *corev1.EndpointPort, ready bool) corev1.EndpointSubset {
	s := corev1.EndpointSubset{}
	if port != nil {
		s.Ports = []corev1.EndpointPort{*port}
	}
	if ready {
		s.Addresses = []corev1.EndpointAddress{addr}
	} else {
		s.NotReadyAddresses = []corev1.EndpointAddress{addr}
	}
	return s
}

// podAddress is the pod's address in the Service's IP family: the first family of the Service, or that
// of its cluster IP, or for a headless Service without families that of the pod's primary IP.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	ipv6 := false
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		ipv6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		ipv6 = isIPv6(svc.Spec.ClusterIP)
	default:
		ipv6 = isIPv6(pod.Status.PodIP)
	}
	ips := pod.Status.PodIPs
	if len(ips) == 0 {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil || isV6(a) != ipv6 {
			continue
		}
		addr := corev1.EndpointAddress{IP: a.Unmap().String(), TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		}}
		if pod.Spec.NodeName != "" {
			nodeName := pod.Spec.NodeName
			addr.NodeName = &nodeName
		}
		if endpointslice.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		return addr, true
	}
	return corev1.EndpointAddress{}, false
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && isV6(a)
}

func isV6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// portKey is an EndpointPort made comparable.
type portKey struct {
	name, protocol, appProtocol string
	port                        int32
}

func keyOfPort(p corev1.EndpointPort) portKey {
	k := portKey{name: p.Name, protocol: string(p.Protocol), port: p.Port}
	if p.AppProtocol != nil {
		k.appProtocol = *p.AppProtocol
	}
	return k
}

// addressKey tells addresses apart: the same IP may be two pods' (host network), told by UID.
type addressKey struct {
	ip  string
	uid string
}

func keyOfAddress(a *corev1.EndpointAddress) addressKey {
	k := addressKey{ip: a.IP}
	if a.TargetRef != nil {
		k.uid = string(a.TargetRef.UID)
	}
	return k
}

// repack expands subsets to (address, port, ready) and packs them again canonically, as upstream's
// RepackSubsets: addresses offering the same set of ports share a subset, an address not ready on any
// port is not ready, and addresses, ports and subsets are sorted, so equal contents compare equal.
// Subsets without ports (headless Services without ports) keep their addresses in one portless subset.
func repack(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	addrs := map[addressKey]corev1.EndpointAddress{}
	ports := map[portKey]corev1.EndpointPort{}
	// For each port, its addresses and whether each is ready; the empty portKey holds portless ones.
	byPort := map[portKey]map[addressKey]bool{}
	note := func(p portKey, a *corev1.EndpointAddress, ready bool) {
		k := keyOfAddress(a)
		if _, ok := addrs[k]; !ok {
			addrs[k] = *a
		}
		if byPort[p] == nil {
			byPort[p] = map[addressKey]bool{}
		}
		if was, seen := byPort[p][k]; !seen || was {
			byPort[p][k] = ready
		}
	}
	const portless = "\x00portless"
	for _, s := range subsets {
		keys := make([]portKey, 0, len(s.Ports))
		for _, p := range s.Ports {
			k := keyOfPort(p)
			ports[k] = p
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			keys = append(keys, portKey{name: portless})
		}
		for _, k := range keys {
			for i := range s.Addresses {
				note(k, &s.Addresses[i], true)
			}
			for i := range s.NotReadyAddresses {
				note(k, &s.NotReadyAddresses[i], false)
			}
		}
	}

	// Ports whose address sets (with readiness) are equal go together.
	type group struct {
		addrs map[addressKey]bool
		ports []portKey
	}
	groups := map[string]*group{}
	for p, as := range byPort {
		sig := signature(as)
		if groups[sig] == nil {
			groups[sig] = &group{addrs: as}
		}
		groups[sig].ports = append(groups[sig].ports, p)
	}
	out := make([]corev1.EndpointSubset, 0, len(groups))
	for _, g := range groups {
		var s corev1.EndpointSubset
		for k, ready := range g.addrs {
			if ready {
				s.Addresses = append(s.Addresses, addrs[k])
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, addrs[k])
			}
		}
		for _, p := range g.ports {
			if p.name != portless {
				s.Ports = append(s.Ports, ports[p])
			}
		}
		sortSubset(&s)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b corev1.EndpointSubset) int { return cmp.Compare(subsetKey(&a), subsetKey(&b)) })
	return out
}

func signature(as map[addressKey]bool) string {
	keys := make([]string, 0, len(as))
	for k, ready := range as {
		keys = append(keys, fmt.Sprintf("%s/%s/%t", k.ip, k.uid, ready))
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func sortSubset(s *corev1.EndpointSubset) {
	byAddress := func(a, b corev1.EndpointAddress) int {
		ka, kb := keyOfAddress(&a), keyOfAddress(&b)
		return cmp.Or(cmp.Compare(ka.ip, kb.ip), cmp.Compare(ka.uid, kb.uid))
	}
	slices.SortFunc(s.Addresses, byAddress)
	slices.SortFunc(s.NotReadyAddresses, byAddress)
	slices.SortFunc(s.Ports, func(a, b corev1.EndpointPort) int {
		ka, kb := keyOfPort(a), keyOfPort(b)
		return cmp.Or(cmp.Compare(ka.name, kb.name), cmp.Compare(ka.port, kb.port),
			cmp.Compare(ka.protocol, kb.protocol), cmp.Compare(ka.appProtocol, kb.appProtocol))
	})
}

// subsetKey orders subsets by their first port, then first address.
func subsetKey(s *corev1.EndpointSubset) string {
	var b strings.Builder
	for _, p := range s.Ports {
		fmt.Fprintf(&b, "%s:%d/%s;", p.Name, p.Port, p.Protocol)
	}
	b.WriteString("|")
	for _, list := range [][]corev1.EndpointAddress{s.Addresses, s.NotReadyAddresses} {
		for i := range list {
			k := keyOfAddress(&list[i])
			fmt.Fprintf(&b, "%s/%s;", k.ip, k.uid)
		}
		b.WriteString("|")
	}
	return b.String()
}

// truncate keeps at most maxCapacity addresses in subsets, as upstream: ready addresses before not
// ready ones, each subset keeping its share of the total. It reports whether anything was dropped.
func truncate(subsets []corev1.EndpointSubset) bool {
	totalReady, totalNotReady := 0, 0
	for _, s := range subsets {
		totalReady += len(s.Addresses)
		totalNotReady += len(s.NotReadyAddresses)
	}
	if totalReady+totalNotReady <= maxCapacity {
		return false
	}
	truncateReady := totalReady > maxCapacity
	limit, total := maxCapacity-totalReady, totalNotReady
	if truncateReady {
		limit, total = maxCapacity, totalReady
	}
	left := limit
	for i := range subsets {
		s := &subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		// Each subset's share is rounded up; the last ones get what is left.
		keep := min(int(math.Ceil(float64(n)/float64(total)*float64(limit))), left)
		if truncateReady {
			s.Addresses = s.Addresses[:min(keep, len(s.Addresses))]
			s.NotReadyAddresses = nil
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(keep, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}
