package nodeagent

import (
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// podIPAllocator hands out the addresses of one node's pod CIDR (spec.podCIDR, given by the nodeipam
// controller), one per pod. The network address and the first host address (the gateway of the node's
// bridge) are never handed out, nor is the last (the broadcast address). The search for a free address
// goes on from the last one handed out, as CNI's host-local does, so that an address just released is
// not reused at once. The allocation lives in memory: at start it is recovered from the pods' status.
type podIPAllocator struct {
	mu    sync.Mutex
	byUID map[types.UID]netip.Addr
	used  map[netip.Addr]types.UID
	last  netip.Addr
}

func newPodIPAllocator() *podIPAllocator {
	return &podIPAllocator{byUID: map[types.UID]netip.Addr{}, used: map[netip.Addr]types.UID{}}
}

// Allocate returns the pod's address in cidr: the one it has, or a free one.
func (a *podIPAllocator) Allocate(uid types.UID, cidr string) (string, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	prefix = prefix.Masked()
	first, end, ok := hostRange(prefix)
	if !ok {
		return "", fmt.Errorf("pod CIDR %s is too small for pods", prefix)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byUID[uid]; ok {
		if prefix.Contains(ip) {
			return ip.String(), nil
		}
		a.releaseLocked(uid)
	}
	start := first
	if a.last.IsValid() && prefix.Contains(a.last) && a.last.Compare(end) < 0 && a.last.Compare(first) >= 0 {
		start = a.last.Next()
	}
	for ip := start; ; {
		if _, taken := a.used[ip]; !taken {
			a.byUID[uid], a.used[ip], a.last = ip, uid, ip
			return ip.String(), nil
		}
		if ip == end {
			ip = first
		} else {
			ip = ip.Next()
		}
		if ip == start {
			return "", fmt.Errorf("no free address left in pod CIDR %s", prefix)
		}
	}
}

// Reserve records that the pod has ip, as its status says after a restart of the agent. It reports
// false if another pod has it already.
func (a *podIPAllocator) Reserve(uid types.UID, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if owner, taken := a.used[addr]; taken {
		return owner == uid
	}
	a.releaseLocked(uid)
	a.byUID[uid], a.used[addr] = addr, uid
	return true
}

// Release gives the pod's address back.
func (a *podIPAllocator) Release(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(uid)
}

func (a *podIPAllocator) releaseLocked(uid types.UID) {
	if ip, ok := a.byUID[uid]; ok {
		delete(a.byUID, uid)
		delete(a.used, ip)
	}
}

// hostRange is the first and last address of prefix that pods may have.
func hostRange(prefix netip.Prefix) (first, end netip.Addr, ok bool) {
	bits := prefix.Addr().BitLen()
	if bits-prefix.Bits() < 2 {
		return netip.Addr{}, netip.Addr{}, false
	}
	first = prefix.Addr().Next().Next()
	b := prefix.Addr().AsSlice()
	for i := prefix.Bits(); i < bits; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	broadcast, _ := netip.AddrFromSlice(b)
	end = broadcast.Prev()
	if end.Compare(first) < 0 {
		return netip.Addr{}, netip.Addr{}, false
	}
	return first, end, true
}
