package podnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, links and mounts")
	}
}

// testNet is a Network on a bridge and run dir of the test's own, with a pod CIDR no route of the
// machine touches.
type testNet struct {
	*Network
	cfg  Config
	cidr netip.Prefix
}

// newTestNet makes a Network with a unique bridge name and a private run dir; everything the test makes
// with it (pods, bridge, run dir mount) is removed when the test ends, failed or not.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir() // removed after the cleanup below, which is registered later and so runs first
	cfg := Config{Bridge: fmt.Sprintf("sk%06x", rand.IntN(1<<24)), RunDir: filepath.Join(dir, "netns")}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNet{Network: n, cfg: cfg, cidr: freeCIDR(t)}
	t.Cleanup(func() { tn.removeAll(t) })
	return tn
}

func (tn *testNet) removeAll(t *testing.T) {
	t.Helper()
	uids, err := tn.List()
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, uid := range uids {
		// t.Context is already canceled when cleanups run.
		if err := tn.Teardown(context.Background(), uid); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if err := tn.DeleteBridge(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if err := tn.UnmountRunDir(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if n := len(mountsUnder(t, tn.cfg.RunDir)); n != 0 {
		t.Errorf("cleanup: %d mounts left at or under %s", n, tn.cfg.RunDir)
	}
}

// ensureBridge sets the bridge up with the test's pod CIDR.
func (tn *testNet) ensureBridge(t *testing.T) {
	t.Helper()
	if err := tn.EnsureBridge(tn.cidr.String()); err != nil {
		t.Fatal(err)
	}
}

// podIP is the i-th address of the test's pod CIDR (1 is the gateway).
func (tn *testNet) podIP(i int) string {
	a := tn.cidr.Addr().As4()
	a[3] = byte(i)
	return netip.AddrFrom4(a).String()
}

func (tn *testNet) gateway() string { return tn.podIP(1) }

// freeCIDR picks a /24 in 10.99.0.0/16 that no route and no address of the machine overlaps.
func freeCIDR(t *testing.T) netip.Prefix {
	t.Helper()
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		t.Fatalf("list routes: %v", err)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		t.Fatalf("list addresses: %v", err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			continue // a default route overlaps everything and routes nothing of ours on-link
		}
		if p, ok := prefixOf(r.Dst); ok {
			used = append(used, p)
		}
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			used = append(used, p)
		}
	}
	for range 100 {
		c := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(1 + rand.IntN(254)), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(c) {
				free = false
				break
			}
		}
		if free {
			return c
		}
	}
	t.Fatal("no free /24 in 10.99.0.0/16")
	return netip.Prefix{}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones).Masked(), true
}

// newUID returns a pod UID shaped like the API server's, unique to this run.
func newUID() types.UID {
	return types.UID(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rand.Uint32(), rand.IntN(1<<16), rand.IntN(1<<16), rand.IntN(1<<16), rand.Uint64()&(1<<48-1)))
}

// mountsUnder returns the mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// filesIn returns the names in dir, none if it does not exist.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// ourLinks returns the host's links that belong to this test: the bridge, its ports, and any link named
// or aliased after one of the pods. Other test packages may add and remove links of their own at the
// same time, so a count of every link on the machine would not be the test's to compare.
func (tn *testNet) ourLinks(t *testing.T, uids []types.UID) []string {
	t.Helper()
	var links []netlink.Link
	var err error
	for range 5 {
		if links, err = netlink.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	names := map[string]bool{}
	aliases := map[string]bool{}
	for _, uid := range uids {
		names[HostVethName(uid)] = true
		aliases[string(uid)] = true
	}
	brIndex := -1
	for _, l := range links {
		if l.Attrs().Name == tn.cfg.Bridge {
			brIndex = l.Attrs().Index
		}
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if a.Name == tn.cfg.Bridge || a.MasterIndex == brIndex || names[a.Name] || aliases[a.Alias] {
			out = append(out, a.Name)
		}
	}
	return out
}

// podState is what a pod's namespace holds, read through netlink inside it.
type podState struct {
	loUp      bool
	eth0Up    bool
	eth0Idx   int
	eth0MTU   int
	addrs     []string // IPv4, with prefix length
	defaultGW string
	links     int
}

func readPod(t *testing.T, path string) podState {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var st podState
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	st.links = len(links)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	st.loUp = lo.Attrs().Flags&net.FlagUp != 0
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return st
	}
	st.eth0Up = eth0.Attrs().Flags&net.FlagUp != 0
	st.eth0Idx = eth0.Attrs().Index
	st.eth0MTU = eth0.Attrs().MTU
	addrs, err := h.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		st.addrs = append(st.addrs, a.IPNet.String())
	}
	routes, err := h.RouteList(eth0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw != nil {
			st.defaultGW = r.Gw.String()
		}
	}
	return st
}

// addVeth makes a veth pair in the host namespace, named name and name's peer, with alias (if any), and
// removes it when the test ends. This machine's kernel has no dummy links, so a veth stands for a
// stranger's link.
func addVeth(t *testing.T, name, peer, alias string) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	if alias != "" {
		if err := netlink.LinkSetAlias(veth, alias); err != nil {
			t.Fatal(err)
		}
	}
}
