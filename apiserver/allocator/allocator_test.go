package allocator_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/apiserver/allocator"
	"github.com/skiffhq/skiff/apiserver/etcd"
)

// startEtcd runs a real embedded etcd member for the test and returns a client of it.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	e, err := etcd.StartEmbedded(context.Background(), t.TempDir(), zap.NewNop())
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL}})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func mustIPRange(t *testing.T, cidr string) *allocator.IPRange {
	t.Helper()
	r, err := allocator.NewIPRange(cidr)
	if err != nil {
		t.Fatalf("NewIPRange(%q): %v", cidr, err)
	}
	return r
}

func TestAllocateNextGivesDistinctValuesToFiftyConcurrentCallers(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		r    allocator.Range
	}{
		{"ips", mustIPRange(t, "10.43.0.0/24")},
		{"ports", &allocator.PortRange{Base: 30000, Max: 30099}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := allocator.New(client, "/test/concurrent/"+tc.name, tc.r)
			const n = 50
			got := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { got[i], errs[i] = a.AllocateNext(ctx, fmt.Sprintf("owner-%d", i), false) })
			}
			wg.Wait()
			seen := map[string]int{}
			for i, v := range got {
				if errs[i] != nil {
					t.Fatalf("owner-%d: %v", i, errs[i])
				}
				if j, dup := seen[v]; dup {
					t.Errorf("owner-%d and owner-%d were both given %s", j, i, v)
				}
				seen[v] = i
				if _, ok := tc.r.Index(v); !ok {
					t.Errorf("owner-%d was given %s, outside %s", i, v, tc.r)
				}
			}
			stored, err := a.Allocated(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != n {
				t.Errorf("Allocated() holds %d values, want %d", len(stored), n)
			}
			for i, v := range got {
				if want := fmt.Sprintf("owner-%d", i); stored[v] != want {
					t.Errorf("Allocated()[%s] = %q, want %q", v, stored[v], want)
				}
			}
		})
	}
}

func TestAllocateHonoursOwnershipAndRange(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	ips := allocator.New(client, "/test/owners/ips", mustIPRange(t, "10.43.0.0/16"))
	ports := allocator.New(client, "/test/owners/ports", &allocator.PortRange{Base: 30000, Max: 32767})
	if err := ips.Allocate(ctx, "10.43.7.7", "default/web", false); err != nil {
		t.Fatalf("first allocation: %v", err)
	}
	if err := ports.Allocate(ctx, "31000", "default/web", false); err != nil {
		t.Fatalf("first allocation: %v", err)
	}
	for _, tc := range []struct {
		name  string
		a     *allocator.Allocator
		value string
		owner string
		want  error
	}{
		{"held ip refused to another owner", ips, "10.43.7.7", "default/other", allocator.ErrAllocated},
		{"held ip accepted again by its owner", ips, "10.43.7.7", "default/web", nil},
		{"free ip taken", ips, "10.43.7.8", "default/other", nil},
		{"ip outside the cidr", ips, "10.44.0.1", "default/web", allocator.ErrOutOfRange},
		{"network address", ips, "10.43.0.0", "default/web", allocator.ErrOutOfRange},
		{"broadcast address", ips, "10.43.255.255", "default/web", allocator.ErrOutOfRange},
		{"not an ip", ips, "ten", "default/web", allocator.ErrOutOfRange},
		{"ipv6 in an ipv4 range", ips, "fd00::1", "default/web", allocator.ErrOutOfRange},
		{"held port refused to another owner", ports, "31000", "default/other", allocator.ErrAllocated},
		{"held port accepted again by its owner", ports, "31000", "default/web", nil},
		{"port below the range", ports, "29999", "default/web", allocator.ErrOutOfRange},
		{"port above the range", ports, "32768", "default/web", allocator.ErrOutOfRange},
		{"not a port", ports, "http", "default/web", allocator.ErrOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Allocate(ctx, tc.value, tc.owner, false)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Allocate(%s, %s) = %v, want %v", tc.value, tc.owner, err, tc.want)
			}
		})
	}
	stored, err := ips.Allocated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stored["10.43.7.7"] != "default/web" {
		t.Errorf("10.43.7.7 is held by %q after the refused attempts, want default/web", stored["10.43.7.7"])
	}
}

func TestReleaseFreesOnlyTheOwnersValue(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	a := allocator.New(client, "/test/release", &allocator.PortRange{Base: 30000, Max: 30009})
	if err := a.Allocate(ctx, "30005", "ns/a", false); err != nil {
		t.Fatal(err)
	}

	if err := a.Release(ctx, "30005", "ns/b"); err != nil {
		t.Fatalf("release by another owner: %v", err)
	}
	if err := a.Allocate(ctx, "30005", "ns/b", false); !errors.Is(err, allocator.ErrAllocated) {
		t.Fatalf("after a release by a non-owner, another owner's Allocate = %v, want ErrAllocated", err)
	}

	if err := a.Release(ctx, "30005", "ns/a"); err != nil {
		t.Fatalf("release by the owner: %v", err)
	}
	stored, err := a.Allocated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 0 {
		t.Errorf("after release Allocated() = %v, want nothing", stored)
	}
	if err := a.Allocate(ctx, "30005", "ns/b", false); err != nil {
		t.Errorf("a released value is refused to a new owner: %v", err)
	}
	if err := a.Release(ctx, "30006", "ns/a"); err != nil {
		t.Errorf("releasing a value nobody holds: %v", err)
	}
}

func TestSmallRangeFillsUpAndHandsOutReleasedValues(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	r := &allocator.PortRange{Base: 30000, Max: 30009}
	a := allocator.New(client, "/test/full", r)
	owners := map[string]string{}
	for i := range r.Size() {
		owner := fmt.Sprintf("ns/svc-%d", i)
		v, err := a.AllocateNext(ctx, owner, false)
		if err != nil {
			t.Fatalf("allocation %d of %d: %v", i+1, r.Size(), err)
		}
		if prev, dup := owners[v]; dup {
			t.Fatalf("%s given to %s and %s", v, prev, owner)
		}
		owners[v] = owner
	}
	if v, err := a.AllocateNext(ctx, "ns/late", false); !errors.Is(err, allocator.ErrFull) {
		t.Fatalf("AllocateNext on a full range = %q, %v; want ErrFull", v, err)
	}
	if err := a.Release(ctx, "30004", owners["30004"]); err != nil {
		t.Fatal(err)
	}
	v, err := a.AllocateNext(ctx, "ns/late", false)
	if err != nil || v != "30004" {
		t.Fatalf("after 30004 was released AllocateNext = %q, %v; want 30004", v, err)
	}
	if _, err := a.AllocateNext(ctx, "ns/later", false); !errors.Is(err, allocator.ErrFull) {
		t.Errorf("AllocateNext once the freed value is taken again = %v, want ErrFull", err)
	}
}

func TestAllocateNextNeverHandsAnOwnerAValueItAlreadyHolds(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	// One Service with several ports asks for one node port per port, all under the same owner.
	r := &allocator.PortRange{Base: 30000, Max: 30009}
	a := allocator.New(client, "/test/same-owner", r)
	seen := map[string]bool{}
	for i := range r.Size() {
		v, err := a.AllocateNext(ctx, "ns/multi-port", false)
		if err != nil {
			t.Fatalf("allocation %d of %d: %v", i+1, r.Size(), err)
		}
		if seen[v] {
			t.Fatalf("allocation %d returned %s, which the owner already holds", i+1, v)
		}
		seen[v] = true
	}
	if v, err := a.AllocateNext(ctx, "ns/multi-port", false); !errors.Is(err, allocator.ErrFull) {
		t.Errorf("AllocateNext when the owner holds the whole range = %q, %v; want ErrFull", v, err)
	}
}

func TestAllocateNextKeepsTheFirstAddressForTheKubernetesService(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	r := mustIPRange(t, "10.43.0.0/29") // 6 usable addresses, .1 reserved
	a := allocator.New(client, "/test/first", r)
	for i := range r.Size() - 1 {
		v, err := a.AllocateNext(ctx, fmt.Sprintf("ns/svc-%d", i), false)
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		if v == r.First() {
			t.Fatalf("AllocateNext handed out %s, the kubernetes Service's address", v)
		}
	}
	if v, err := a.AllocateNext(ctx, "ns/late", false); !errors.Is(err, allocator.ErrFull) {
		t.Fatalf("AllocateNext with only the first address free = %q, %v; want ErrFull", v, err)
	}
	if err := a.Allocate(ctx, r.First(), "default/kubernetes", false); err != nil {
		t.Errorf("the first address is refused when asked for by name: %v", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	r := &allocator.PortRange{Base: 30000, Max: 30002}
	a := allocator.New(client, "/test/dryrun", r)
	if err := a.Allocate(ctx, "30000", "ns/a", false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		run   func() error
		want  error
		value string
	}{
		{name: "free value", run: func() error { return a.Allocate(ctx, "30001", "ns/b", true) }},
		{name: "value held by the same owner", run: func() error { return a.Allocate(ctx, "30000", "ns/a", true) }},
		{name: "value held by another owner", run: func() error { return a.Allocate(ctx, "30000", "ns/b", true) }, want: allocator.ErrAllocated},
		{name: "out of range", run: func() error { return a.Allocate(ctx, "40000", "ns/b", true) }, want: allocator.ErrOutOfRange},
		{name: "next value", run: func() error {
			v, err := a.AllocateNext(ctx, "ns/c", true)
			if err == nil && (v == "30000" || v == "") {
				return fmt.Errorf("dry-run AllocateNext returned %q, which is not free", v)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			stored, err := a.Allocated(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 1 || stored["30000"] != "ns/a" {
				t.Errorf("after a dry run Allocated() = %v, want only 30000 held by ns/a", stored)
			}
		})
	}

	// A dry run on a full range reports it full.
	for _, v := range []string{"30001", "30002"} {
		if err := a.Allocate(ctx, v, "ns/a", false); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := a.AllocateNext(ctx, "ns/d", true); !errors.Is(err, allocator.ErrFull) {
		t.Errorf("dry-run AllocateNext on a full range = %q, %v; want ErrFull", v, err)
	}
}

func TestEquivalentSpellingsOfAValueAreOneAllocation(t *testing.T) {
	client := startEtcd(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		r             allocator.Range
		held, another string
	}{
		{"ipv6 address written in full", mustIPRange(t, "fd00:10:43::/112"), "fd00:10:43::5", "fd00:10:43:0:0:0:0:5"},
		{"ipv6 address in upper case", mustIPRange(t, "fd00:10:43::/112"), "fd00:10:43::a", "FD00:10:43::A"},
		{"port with a leading zero", &allocator.PortRange{Base: 30000, Max: 32767}, "30005", "030005"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := allocator.New(client, "/test/spelling/"+tc.name, tc.r)
			if err := a.Allocate(ctx, tc.held, "ns/a", false); err != nil {
				t.Fatal(err)
			}
			if err := a.Allocate(ctx, tc.another, "ns/b", false); !errors.Is(err, allocator.ErrAllocated) {
				t.Errorf("Allocate(%s) by another owner while %s is held = %v, want ErrAllocated", tc.another, tc.held, err)
			}
			if err := a.Release(ctx, tc.another, "ns/a"); err != nil {
				t.Fatal(err)
			}
			stored, err := a.Allocated(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 0 {
				t.Errorf("after Release(%s) Allocated() = %v, want nothing", tc.another, stored)
			}
		})
	}
}

func TestIPRangeUsableAddresses(t *testing.T) {
	for _, tc := range []struct {
		cidr        string
		size        int
		first, last string
		excluded    []string
	}{
		{cidr: "10.43.0.0/16", size: 65534, first: "10.43.0.1", last: "10.43.255.254",
			excluded: []string{"10.43.0.0", "10.43.255.255", "10.44.0.0", "10.42.255.255"}},
		{cidr: "10.43.0.0/24", size: 254, first: "10.43.0.1", last: "10.43.0.254",
			excluded: []string{"10.43.0.0", "10.43.0.255"}},
		{cidr: "192.168.1.4/30", size: 2, first: "192.168.1.5", last: "192.168.1.6",
			excluded: []string{"192.168.1.4", "192.168.1.7", "192.168.1.8"}},
		// A host address in the CIDR is the same range as its network.
		{cidr: "10.43.0.77/24", size: 254, first: "10.43.0.1", last: "10.43.0.254",
			excluded: []string{"10.43.0.0", "10.43.0.255"}},
		// IPv6 has no broadcast address: only the network (subnet-router anycast) address is left out.
		{cidr: "fd00:10:43::/126", size: 3, first: "fd00:10:43::1", last: "fd00:10:43::3",
			excluded: []string{"fd00:10:43::", "fd00:10:43::4"}},
		{cidr: "fd00:10:43::/112", size: 65535, first: "fd00:10:43::1", last: "fd00:10:43::ffff",
			excluded: []string{"fd00:10:43::", "fd00:10:43::1:0", "10.43.0.1"}},
		// Large IPv6 ranges are capped.
		{cidr: "fd00:10:43::/64", size: 1 << 20, first: "fd00:10:43::1", last: "fd00:10:43::10:0",
			excluded: []string{"fd00:10:43::", "fd00:10:43::10:1", "fd00:10:43:0:ffff:ffff:ffff:ffff", "fd00:10:44::1"}},
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			r := mustIPRange(t, tc.cidr)
			if r.Size() != tc.size {
				t.Errorf("Size() = %d, want %d", r.Size(), tc.size)
			}
			if got := r.First(); got != tc.first {
				t.Errorf("First() = %s, want %s", got, tc.first)
			}
			if got := r.Value(0); got != tc.first {
				t.Errorf("Value(0) = %s, want %s", got, tc.first)
			}
			if got := r.Value(r.Size() - 1); got != tc.last {
				t.Errorf("Value(Size()-1) = %s, want %s", got, tc.last)
			}
			if i, ok := r.Index(tc.last); !ok || i != r.Size()-1 {
				t.Errorf("Index(%s) = %d, %v; want %d, true", tc.last, i, ok, r.Size()-1)
			}
			for _, v := range tc.excluded {
				if i, ok := r.Index(v); ok {
					t.Errorf("Index(%s) = %d, true; want it outside the range", v, i)
				}
			}
			// Every index written as an address reads back as the same index.
			step := max(1, r.Size()/997)
			for i := 0; i < r.Size(); i += step {
				v := r.Value(i)
				if got, ok := r.Index(v); !ok || got != i {
					t.Fatalf("Index(Value(%d) = %s) = %d, %v", i, v, got, ok)
				}
			}
		})
	}
}

func TestIPRangeRefusesRangesWithoutUsableAddresses(t *testing.T) {
	for _, cidr := range []string{"10.43.0.0/31", "10.43.0.1/32", "fd00::/127", "fd00::1/128", "10.43.0.0", "not-a-cidr", "10.43.0.0/33"} {
		t.Run(cidr, func(t *testing.T) {
			if r, err := allocator.NewIPRange(cidr); err == nil {
				t.Errorf("NewIPRange(%q) = range of %d addresses, want an error", cidr, r.Size())
			}
		})
	}
}

func TestPortRangeParsesAndIndexes(t *testing.T) {
	for _, tc := range []struct {
		in        string
		base, max int
		wantErr   bool
	}{
		{in: "30000-32767", base: 30000, max: 32767},
		{in: " 100 - 200 ", base: 100, max: 200},
		{in: "80-80", base: 80, max: 80},
		{in: "32767-30000", wantErr: true},
		{in: "0-100", wantErr: true},
		{in: "1-65536", wantErr: true},
		{in: "30000", wantErr: true},
		{in: "a-b", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := allocator.ParsePortRange(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParsePortRange(%q) = %v, want an error", tc.in, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Base != tc.base || r.Max != tc.max || r.Size() != tc.max-tc.base+1 {
				t.Errorf("ParsePortRange(%q) = %d-%d size %d", tc.in, r.Base, r.Max, r.Size())
			}
			for i := range r.Size() {
				v := r.Value(i)
				if v != strconv.Itoa(tc.base+i) {
					t.Fatalf("Value(%d) = %s", i, v)
				}
				if got, ok := r.Index(v); !ok || got != i {
					t.Fatalf("Index(%s) = %d, %v; want %d", v, got, ok, i)
				}
			}
			for _, out := range []int{tc.base - 1, tc.max + 1} {
				if _, ok := r.Index(strconv.Itoa(out)); ok {
					t.Errorf("Index(%d) is in %s", out, r)
				}
			}
		})
	}
}
