package podnet

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

func TestNewChecksConfigAndFillsDefaults(t *testing.T) {
	n, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n.bridge != DefaultBridge || n.runDir != DefaultRunDir || n.mtu != DefaultMTU {
		t.Errorf("defaults: bridge %q run dir %q MTU %d", n.bridge, n.runDir, n.mtu)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"bridge name longer than IFNAMSIZ", Config{Bridge: "abcdefghijklmnop"}},
		{"bridge name with a slash", Config{Bridge: "a/b"}},
		{"relative run dir", Config{RunDir: "run/netns"}},
		{"MTU below the IPv4 minimum", Config{MTU: 67}},
		{"MTU above what a veth takes", Config{MTU: 70000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Errorf("New(%+v) accepted it", tc.cfg)
			}
		})
	}
}

func TestHostVethNameIsStableShortAndPerPod(t *testing.T) {
	a, b := HostVethName("3f1c2e58-0000-4000-8000-000000000001"), HostVethName("3f1c2e58-0000-4000-8000-000000000002")
	if a != HostVethName("3f1c2e58-0000-4000-8000-000000000001") {
		t.Error("the same UID gave two names")
	}
	if a == b {
		t.Errorf("two UIDs share the name %s", a)
	}
	for _, name := range []string{a, b} {
		if len(name) > 15 || !strings.HasPrefix(name, "veth") {
			t.Errorf("%q: want veth and at most 15 characters", name)
		}
	}
}

func TestSubnetBroadcast(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.42.0.0/24": "10.42.0.255",
		"10.42.0.0/16": "10.42.255.255",
		"10.42.3.8/30": "10.42.3.11",
		"10.42.3.0/21": "10.42.7.255",
	} {
		sub, err := parsePodCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sub.broadcast().String(); got != want {
			t.Errorf("broadcast of %s = %s, want %s", cidr, got, want)
		}
	}
}

func TestEnsureBridgeIsIdempotentAndFollowsTheCIDR(t *testing.T) {
	tn := newTestNet(t)
	tn.ensureBridge(t)
	tn.ensureBridge(t)

	br, err := netlink.LinkByName(tn.cfg.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	if br.Type() != "bridge" || br.Attrs().MTU != DefaultMTU || br.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("bridge: type %s MTU %d flags %v; want an up bridge with MTU 1500", br.Type(), br.Attrs().MTU, br.Attrs().Flags)
	}
	if got := bridgeAddrs(t, br); !slices.Equal(got, []string{tn.gateway() + "/24"}) {
		t.Errorf("bridge addresses %v, want [%s/24]", got, tn.gateway())
	}

	// A new pod CIDR replaces the gateway address instead of adding one.
	old := tn.cidr
	tn.cidr = freeCIDR(t)
	for tn.cidr == old {
		tn.cidr = freeCIDR(t)
	}
	tn.ensureBridge(t)
	if got := bridgeAddrs(t, br); !slices.Equal(got, []string{tn.gateway() + "/24"}) {
		t.Errorf("after a CIDR change the bridge holds %v, want only [%s/24]", got, tn.gateway())
	}

	for _, bad := range []string{"not-a-cidr", "fd00::/64", "10.99.0.0/31", ""} {
		if err := tn.EnsureBridge(bad); err == nil {
			t.Errorf("EnsureBridge(%q) accepted it", bad)
		}
	}
}

func TestEnsureBridgeRefusesALinkOfAnotherType(t *testing.T) {
	tn := newTestNet(t)
	addVeth(t, tn.cfg.Bridge, tn.cfg.Bridge+"p", "")
	if err := tn.EnsureBridge(tn.cidr.String()); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Errorf("EnsureBridge over a veth: %v, want a 'not a bridge' error", err)
	}
	if _, err := netlink.LinkByName(tn.cfg.Bridge); err != nil {
		t.Errorf("the veth is gone: %v", err)
	}
	if err := tn.DeleteBridge(); err == nil {
		t.Error("DeleteBridge removed a link that is not a bridge")
	}
}

func bridgeAddrs(t *testing.T, br netlink.Link) []string {
	t.Helper()
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out
}

func TestTwoPodsReachEachOtherAndTheHostReachesThem(t *testing.T) {
	tn := newTestNet(t)
	tn.ensureBridge(t)
	uidA, uidB := newUID(), newUID()
	a, err := tn.Setup(t.Context(), uidA, tn.podIP(2))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tn.Setup(t.Context(), uidB, tn.podIP(3))
	if err != nil {
		t.Fatal(err)
	}

	br, err := netlink.LinkByName(tn.cfg.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	for _, sb := range []Sandbox{a, b} {
		st := readPod(t, sb.NetNSPath)
		if !st.loUp || !st.eth0Up {
			t.Errorf("%s: lo up %v, eth0 up %v; want both up", sb.NetNSPath, st.loUp, st.eth0Up)
		}
		if want := []string{sb.IP + "/24"}; !slices.Equal(st.addrs, want) {
			t.Errorf("%s: eth0 addresses %v, want %v", sb.NetNSPath, st.addrs, want)
		}
		if st.defaultGW != tn.gateway() {
			t.Errorf("%s: default route via %q, want %s", sb.NetNSPath, st.defaultGW, tn.gateway())
		}
		if st.eth0MTU != DefaultMTU || st.links != 2 {
			t.Errorf("%s: eth0 MTU %d, %d links; want 1500 and only lo and eth0", sb.NetNSPath, st.eth0MTU, st.links)
		}
		host, err := netlink.LinkByName(sb.HostVeth)
		if err != nil {
			t.Fatal(err)
		}
		if host.Attrs().MasterIndex != br.Attrs().Index || host.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: master %d up %v; want an up port of bridge %d", sb.HostVeth, host.Attrs().MasterIndex, host.Attrs().Flags&net.FlagUp != 0, br.Attrs().Index)
		}
		pi, err := netlink.LinkGetProtinfo(host)
		if err != nil {
			t.Fatal(err)
		}
		if !pi.Hairpin {
			t.Errorf("%s: hairpin mode off", sb.HostVeth)
		}
	}

	// Pod A connects to a listener in pod B; B sees A's address as the source.
	if got := exchange(t, b, a.NetNSPath); got != a.IP {
		t.Errorf("pod B saw a connection from %s, want pod A's %s", got, a.IP)
	}
	// The host (its own namespace) connects to pod A; A sees the bridge's gateway address.
	if got := exchange(t, a, ""); got != tn.gateway() {
		t.Errorf("pod A saw the host connect from %s, want the gateway %s", got, tn.gateway())
	}
}

// exchange listens on the server pod's address inside its namespace, connects from the namespace at
// fromNS (the host's own if empty), checks that a line goes each way, and returns the client address the
// server saw.
func exchange(t *testing.T, server Sandbox, fromNS string) string {
	t.Helper()
	var ln net.Listener
	if err := InNamespace(server.NetNSPath, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(server.IP, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "ping\n" {
			seen <- fmt.Sprintf("read %q: %v", line, err)
			return
		}
		if _, err := c.Write([]byte("pong\n")); err != nil {
			seen <- "write: " + err.Error()
			return
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		seen <- host
	}()

	dial := func() error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "pong\n" {
			return fmt.Errorf("reply %q: %v", line, err)
		}
		return nil
	}
	var err error
	if fromNS == "" {
		err = dial()
	} else {
		err = InNamespace(fromNS, dial)
	}
	if err != nil {
		t.Fatalf("connect to %s: %v", ln.Addr(), err)
	}
	select {
	case got := <-seen:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("the server saw no connection")
		return ""
	}
}

func mountBind(src, dst string) error {
	return unix.Mount(src, dst, "", unix.MS_BIND, "")
}

func TestSetupIsIdempotentAndFoundAfterARestart(t *testing.T) {
	tn := newTestNet(t)
	tn.ensureBridge(t)
	uid := newUID()
	first, err := tn.Setup(t.Context(), uid, tn.podIP(10))
	if err != nil {
		t.Fatal(err)
	}
	before := readPod(t, first.NetNSPath)
	hostBefore, err := netlink.LinkByName(first.HostVeth)
	if err != nil {
		t.Fatal(err)
	}

	// A new Network on the same bridge and run dir is what an agent restart makes.
	restarted, err := New(tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sb, ok, err := restarted.Status(uid)
	if err != nil || !ok || sb != first {
		t.Errorf("Status after a restart = %+v, %v, %v; want %+v", sb, ok, err, first)
	}
	uids, err := restarted.List()
	if err != nil || !slices.Equal(uids, []types.UID{uid}) {
		t.Errorf("List after a restart = %v, %v; want [%s]", uids, err, uid)
	}
	again, err := restarted.Setup(t.Context(), uid, tn.podIP(10))
	if err != nil || again != first {
		t.Fatalf("second Setup = %+v, %v; want %+v", again, err, first)
	}
	after := readPod(t, again.NetNSPath)
	hostAfter, err := netlink.LinkByName(again.HostVeth)
	if err != nil {
		t.Fatal(err)
	}
	if after.eth0Idx != before.eth0Idx || hostAfter.Attrs().Index != hostBefore.Attrs().Index {
		t.Errorf("a second Setup made the veth anew (eth0 %d -> %d, host %d -> %d)", before.eth0Idx, after.eth0Idx,
			hostBefore.Attrs().Index, hostAfter.Attrs().Index)
	}
	if n := len(mountsUnder(t, first.NetNSPath)); n != 1 {
		t.Errorf("the namespace file is mounted %d times, want once", n)
	}

	// Setup with another address replaces the old one.
	moved, err := restarted.Setup(t.Context(), uid, tn.podIP(11))
	if err != nil {
		t.Fatal(err)
	}
	if st := readPod(t, moved.NetNSPath); !slices.Equal(st.addrs, []string{tn.podIP(11) + "/24"}) || st.defaultGW != tn.gateway() {
		t.Errorf("after Setup with a new IP: addresses %v, default via %q; want only %s/24 via %s", st.addrs, st.defaultGW, tn.podIP(11), tn.gateway())
	}

	// Setup repairs a pod whose veth was deleted behind its back.
	if err := netlink.LinkDel(hostAfter); err != nil {
		t.Fatal(err)
	}
	if sb, ok, err := restarted.Status(uid); err != nil || !ok || sb.HostVeth != "" || sb.IP != "" {
		t.Errorf("Status without the veth = %+v, %v, %v; want the namespace only", sb, ok, err)
	}
	repaired, err := restarted.Setup(t.Context(), uid, tn.podIP(11))
	if err != nil {
		t.Fatal(err)
	}
	if st := readPod(t, repaired.NetNSPath); !st.eth0Up || st.defaultGW != tn.gateway() {
		t.Errorf("after a repair: %+v", st)
	}

	if sb, ok, err := restarted.Status(newUID()); err != nil || ok {
		t.Errorf("Status of an unknown pod = %+v, %v, %v; want not found", sb, ok, err)
	}
}

func TestTeardownLeavesNothingAfterManyCycles(t *testing.T) {
	tn := newTestNet(t)
	tn.ensureBridge(t)
	uids := make([]types.UID, 21)
	for i := range uids {
		uids[i] = newUID()
	}
	// One cycle first, so that the run dir's own mount, made by the first Setup, is in both counts.
	cycle := func(uid types.UID) {
		t.Helper()
		sb, err := tn.Setup(t.Context(), uid, tn.podIP(20))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(sb.NetNSPath); err != nil {
			t.Fatal(err)
		}
		if err := tn.Teardown(t.Context(), uid); err != nil {
			t.Fatal(err)
		}
	}
	cycle(uids[0])
	links, mounts, files := tn.ourLinks(t, uids), mountsUnder(t, tn.cfg.RunDir), filesIn(t, tn.cfg.RunDir)
	if len(mounts) != 1 || len(files) != 0 || !slices.Equal(links, []string{tn.cfg.Bridge}) {
		t.Fatalf("after one cycle: mounts %v, files %v, links %v; want the run dir, nothing, the bridge", mounts, files, links)
	}
	for _, uid := range uids[1:] {
		cycle(uid)
	}
	if got := tn.ourLinks(t, uids); !slices.Equal(got, links) {
		t.Errorf("links after 20 cycles %v, before %v", got, links)
	}
	if got := mountsUnder(t, tn.cfg.RunDir); !slices.Equal(got, mounts) {
		t.Errorf("mounts after 20 cycles %v, before %v", got, mounts)
	}
	if got := filesIn(t, tn.cfg.RunDir); len(got) != 0 {
		t.Errorf("files after 20 cycles %v, want none", got)
	}
	if err := tn.Teardown(t.Context(), uids[0]); err != nil {
		t.Errorf("a second Teardown: %v", err)
	}

	// The run dir's mount goes with UnmountRunDir, but not while a pod is left.
	if _, err := tn.Setup(t.Context(), uids[0], tn.podIP(20)); err != nil {
		t.Fatal(err)
	}
	if err := tn.UnmountRunDir(); err == nil {
		t.Error("UnmountRunDir with a pod left succeeded")
	}
	if err := tn.Teardown(t.Context(), uids[0]); err != nil {
		t.Fatal(err)
	}
	if err := tn.UnmountRunDir(); err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, tn.cfg.RunDir); len(got) != 0 {
		t.Errorf("mounts after UnmountRunDir: %v", got)
	}
}

func TestTeardownAfterAHalfSetup(t *testing.T) {
	for _, tc := range []struct {
		name string
		half func(t *testing.T, tn *testNet, uid types.UID)
	}{
		{"namespace file made, never mounted", func(t *testing.T, tn *testNet, uid types.UID) {
			if err := tn.ensureRunDir(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tn.nsPath(uid), nil, 0o444); err != nil {
				t.Fatal(err)
			}
		}},
		{"namespace mounted, no veth", func(t *testing.T, tn *testNet, uid types.UID) {
			if err := tn.ensureRunDir(); err != nil {
				t.Fatal(err)
			}
			if err := createNamespace(tn.nsPath(uid)); err != nil {
				t.Fatal(err)
			}
		}},
		{"namespace mounted twice", func(t *testing.T, tn *testNet, uid types.UID) {
			if err := tn.ensureRunDir(); err != nil {
				t.Fatal(err)
			}
			if err := createNamespace(tn.nsPath(uid)); err != nil {
				t.Fatal(err)
			}
			if err := createNamespace(tn.nsPath(uid) + "-again"); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = removeNamespace(tn.nsPath(uid) + "-again") }()
			if err := mountBind(tn.nsPath(uid)+"-again", tn.nsPath(uid)); err != nil {
				t.Fatal(err)
			}
		}},
		{"veth made and marked, namespace gone", func(t *testing.T, tn *testNet, uid types.UID) {
			addVeth(t, HostVethName(uid), "skp"+HostVethName(uid)[4:], string(uid))
		}},
		{"veth made, not yet marked", func(t *testing.T, tn *testNet, uid types.UID) {
			addVeth(t, HostVethName(uid), "skp"+HostVethName(uid)[4:], "")
		}},
		{"address set, no default route", func(t *testing.T, tn *testNet, uid types.UID) {
			sb, err := tn.Setup(t.Context(), uid, tn.podIP(30))
			if err != nil {
				t.Fatal(err)
			}
			if err := InNamespace(sb.NetNSPath, func() error {
				return netlink.RouteDel(&netlink.Route{Dst: nil, Gw: net.ParseIP(tn.gateway())})
			}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNet(t)
			tn.ensureBridge(t)
			uid := newUID()
			tc.half(t, tn, uid)
			if err := tn.Teardown(t.Context(), uid); err != nil {
				t.Fatalf("Teardown: %v", err)
			}
			if got := tn.ourLinks(t, []types.UID{uid}); !slices.Equal(got, []string{tn.cfg.Bridge}) {
				t.Errorf("links left: %v", got)
			}
			if got := mountsUnder(t, tn.cfg.RunDir+"/"+nsPrefix); len(got) != 0 {
				t.Errorf("mounts left: %v", got)
			}
			if _, err := os.Lstat(tn.nsPath(uid)); !os.IsNotExist(err) {
				t.Errorf("namespace file left: %v", err)
			}
			// After the teardown the pod can be set up from scratch.
			if _, err := tn.Setup(t.Context(), uid, tn.podIP(31)); err != nil {
				t.Errorf("Setup after Teardown: %v", err)
			}
		})
	}
}

func TestSetupRefusesBadInput(t *testing.T) {
	tn := newTestNet(t)
	if _, err := tn.Setup(t.Context(), newUID(), tn.podIP(2)); err == nil || !strings.Contains(err.Error(), "EnsureBridge") {
		t.Errorf("Setup before the bridge exists: %v, want an error naming EnsureBridge", err)
	}
	tn.ensureBridge(t)

	for _, tc := range []struct {
		name string
		uid  types.UID
		ip   string
	}{
		{"empty UID", "", tn.podIP(2)},
		{"UID with a slash", "../../etc", tn.podIP(2)},
		{"UID that is a dot-dot", "..", tn.podIP(2)},
		{"not an IP", newUID(), "10.99.x.2"},
		{"IPv6", newUID(), "fd00::2"},
		{"IP outside the pod CIDR", newUID(), "192.0.2.77"},
		{"the network address", newUID(), tn.podIP(0)},
		{"the gateway", newUID(), tn.gateway()},
		{"the broadcast address", newUID(), tn.podIP(255)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if sb, err := tn.Setup(t.Context(), tc.uid, tc.ip); err == nil {
				t.Errorf("Setup(%q, %q) = %+v, want an error", tc.uid, tc.ip, sb)
			}
		})
	}
	if uids, err := tn.List(); err != nil || len(uids) != 0 {
		t.Errorf("refused setups left namespaces: %v, %v", uids, err)
	}
	for _, uid := range []types.UID{"", "a/b"} {
		if err := tn.Teardown(t.Context(), uid); err == nil {
			t.Errorf("Teardown(%q) accepted it", uid)
		}
	}
}

func TestSetupAndTeardownLeaveAStrangersLinkAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(t *testing.T, name string)
	}{
		{"a bridge", func(t *testing.T, name string) {
			br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
			if err := netlink.LinkAdd(br); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = netlink.LinkDel(br) })
		}},
		{"another pod's veth", func(t *testing.T, name string) {
			addVeth(t, name, "skp"+name[4:], string(newUID()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNet(t)
			tn.ensureBridge(t)
			uid := newUID()
			stranger := HostVethName(uid)
			tc.add(t, stranger)

			if _, err := tn.Setup(t.Context(), uid, tn.podIP(2)); err == nil || !strings.Contains(err.Error(), "not the pod's veth") {
				t.Errorf("Setup over a stranger's link with the veth's name: %v, want an error", err)
			}
			if sb, ok, err := tn.Status(uid); err != nil || !ok || sb.HostVeth != "" {
				t.Errorf("Status = %+v, %v, %v; want the namespace without a host veth", sb, ok, err)
			}
			if err := tn.Teardown(t.Context(), uid); err != nil {
				t.Errorf("Teardown: %v", err)
			}
			if _, err := netlink.LinkByName(stranger); err != nil {
				t.Errorf("the stranger's link is gone: %v", err)
			}
			if _, err := os.Lstat(tn.nsPath(uid)); !os.IsNotExist(err) {
				t.Errorf("namespace file left: %v", err)
			}
		})
	}
}
