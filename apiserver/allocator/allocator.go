// Package allocator hands out unique values from a range: Service ClusterIPs and NodePorts. Each
// allocated value is an etcd key holding its owner, written with a compare-and-create, so no value is
// given twice even by several API servers at once, and allocations survive restarts.
package allocator

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrAllocated is returned when a requested value is already held by another owner.
var ErrAllocated = errors.New("provided value is already allocated")

// ErrFull is returned when no value of the range is free.
var ErrFull = errors.New("range is full")

// ErrOutOfRange is returned when a requested value is not in the range.
var ErrOutOfRange = errors.New("provided value is not in the valid range")

// Range is the set of values an Allocator hands out: Size values, the i-th written by Value(i).
type Range interface {
	Size() int
	Value(i int) string
	// Index is the position of value in the range, or false when it is not in it.
	Index(value string) (int, bool)
	String() string
}

// Allocator allocates values of a Range under an etcd key prefix.
type Allocator struct {
	client *clientv3.Client
	prefix string
	r      Range
}

// New returns an allocator of r whose allocations are keys below prefix.
func New(client *clientv3.Client, prefix string, r Range) *Allocator {
	return &Allocator{client: client, prefix: strings.TrimSuffix(prefix, "/") + "/", r: r}
}

// Range is the range the allocator hands out.
func (a *Allocator) Range() Range { return a.r }

// Allocate takes value for owner. Taking a value owner already holds succeeds. With dryRun nothing is
// written: the call only checks that the value could be taken.
func (a *Allocator) Allocate(ctx context.Context, value, owner string, dryRun bool) error {
	i, ok := a.r.Index(value)
	if !ok {
		return ErrOutOfRange
	}
	// The key is the value's canonical form, so "fd00::5" and "fd00:0::5" are one allocation.
	key := a.prefix + a.r.Value(i)
	if dryRun {
		resp, err := a.client.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read allocation %s: %w", value, err)
		}
		if len(resp.Kvs) > 0 && string(resp.Kvs[0].Value) != owner {
			return ErrAllocated
		}
		return nil
	}
	resp, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("allocate %s: %w", value, err)
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 && string(kvs[0].Value) == owner {
		return nil
	}
	return ErrAllocated
}

// AllocateNext takes a free value for owner, chosen at random so that concurrent callers rarely collide.
// A value is free only if nobody holds it, owner included. The first address of an IPRange is kept
// for the kubernetes Service and given only by Allocate.
func (a *Allocator) AllocateNext(ctx context.Context, owner string, dryRun bool) (string, error) {
	first := 0
	if _, ok := a.r.(*IPRange); ok {
		first = 1
	}
	size := a.r.Size() - first
	if size <= 0 {
		return "", ErrFull
	}
	// take writes v for owner if no one holds it yet, and says whether it did.
	take := func(v string) (bool, error) {
		key := a.prefix + v
		if dryRun {
			resp, err := a.client.Get(ctx, key, clientv3.WithCountOnly())
			if err != nil {
				return false, fmt.Errorf("read allocation %s: %w", v, err)
			}
			return resp.Count == 0, nil
		}
		resp, err := a.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, owner)).
			Commit()
		if err != nil {
			return false, fmt.Errorf("allocate %s: %w", v, err)
		}
		return resp.Succeeded, nil
	}
	// Random tries find a free value at once while the range is sparse...
	for range 16 {
		v := a.r.Value(first + rand.IntN(size))
		if ok, err := take(v); ok || err != nil {
			return v, err
		}
	}
	// ...and a dense one is read whole, then walked from a random start.
	used, err := a.Allocated(ctx)
	if err != nil {
		return "", err
	}
	start := rand.IntN(size)
	for i := range size {
		v := a.r.Value(first + (start+i)%size)
		if _, taken := used[v]; taken {
			continue
		}
		if ok, err := take(v); ok || err != nil {
			return v, err
		}
	}
	return "", ErrFull
}

// Release frees value if owner holds it.
func (a *Allocator) Release(ctx context.Context, value, owner string) error {
	i, ok := a.r.Index(value)
	if !ok {
		return nil
	}
	key := a.prefix + a.r.Value(i)
	_, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", owner)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("release %s: %w", value, err)
	}
	return nil
}

// Allocated returns every allocated value with its owner.
func (a *Allocator) Allocated(ctx context.Context) (map[string]string, error) {
	resp, err := a.client.Get(ctx, a.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list allocations: %w", err)
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), a.prefix)] = string(kv.Value)
	}
	return out, nil
}

// IPRange is the usable addresses of a CIDR: all but the network address (and, for IPv4, the broadcast
// address). The first usable address is reserved for the kubernetes Service and given only on request.
type IPRange struct {
	prefix netip.Prefix
	size   int
}

// NewIPRange parses cidr.
func NewIPRange(cidr string) (*IPRange, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits < 2 {
		return nil, fmt.Errorf("service CIDR %q is too small", cidr)
	}
	// Very large IPv6 ranges are capped: nobody allocates more than 2^20 service IPs.
	size := 1 << 20
	if hostBits < 21 {
		size = 1<<hostBits - 1 // the network address
		if p.Addr().Is4() {
			size-- // the broadcast address
		}
	}
	return &IPRange{prefix: p, size: size}, nil
}

// Size is the number of usable addresses.
func (r *IPRange) Size() int { return r.size }

// Value is the i-th usable address: network address + 1 + i.
func (r *IPRange) Value(i int) string {
	n := new(big.Int).SetBytes(r.prefix.Addr().AsSlice())
	n.Add(n, big.NewInt(int64(i)+1))
	b := n.FillBytes(make([]byte, r.prefix.Addr().BitLen()/8))
	addr, _ := netip.AddrFromSlice(b)
	return addr.String()
}

// Index is the position of the address value in the range.
func (r *IPRange) Index(value string) (int, bool) {
	addr, err := netip.ParseAddr(value)
	if err != nil || !r.prefix.Contains(addr) {
		return 0, false
	}
	n := new(big.Int).SetBytes(addr.AsSlice())
	n.Sub(n, new(big.Int).SetBytes(r.prefix.Addr().AsSlice()))
	i := int(n.Int64()) - 1
	if !n.IsInt64() || i < 0 || i >= r.size {
		return 0, false
	}
	return i, true
}

// First is the first usable address, the kubernetes Service's.
func (r *IPRange) First() string { return r.Value(0) }

func (r *IPRange) String() string { return r.prefix.String() }

// PortRange is an inclusive range of ports.
type PortRange struct {
	Base, Max int
}

// ParsePortRange parses "30000-32767".
func ParsePortRange(s string) (*PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	base, err1 := strconv.Atoi(strings.TrimSpace(lo))
	max, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || base < 1 || max > 65535 || base > max {
		return nil, fmt.Errorf("port range %q: want BASE-MAX within 1-65535", s)
	}
	return &PortRange{Base: base, Max: max}, nil
}

func (r *PortRange) Size() int          { return r.Max - r.Base + 1 }
func (r *PortRange) Value(i int) string { return strconv.Itoa(r.Base + i) }
func (r *PortRange) String() string     { return fmt.Sprintf("%d-%d", r.Base, r.Max) }

// Index is the position of port value in the range.
func (r *PortRange) Index(value string) (int, bool) {
	p, err := strconv.Atoi(value)
	if err != nil || p < r.Base || p > r.Max {
		return 0, false
	}
	return p - r.Base, true
}
