package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"k8s.io/apimachinery/pkg/types"
)

// Setup makes the pod's network: its namespace, a veth pair from the bridge into it, the pod's address
// podIP (with the prefix length of the pod CIDR the bridge holds), loopback up, and a default route via
// the bridge. It is idempotent and repairs what is missing or different, so that a pod whose network
// exists is returned as it is. The bridge must exist (EnsureBridge).
func (n *Network) Setup(ctx context.Context, podUID types.UID, podIP string) (Sandbox, error) {
	if err := validUID(podUID); err != nil {
		return Sandbox{}, err
	}
	br, sub, err := n.bridgeSubnet()
	if err != nil {
		return Sandbox{}, fmt.Errorf("set up network of pod %s: %w", podUID, err)
	}
	ip, err := sub.checkPodIP(podIP)
	if err != nil {
		return Sandbox{}, fmt.Errorf("set up network of pod %s: %w", podUID, err)
	}
	sb, err := n.setup(ctx, br, sub, podUID, ip)
	if err != nil {
		return Sandbox{}, fmt.Errorf("set up network of pod %s: %w", podUID, err)
	}
	return sb, nil
}

func (n *Network) setup(ctx context.Context, br netlink.Link, sub subnet, podUID types.UID, ip netip.Addr) (Sandbox, error) {
	if err := n.ensureRunDir(); err != nil {
		return Sandbox{}, err
	}
	path := n.nsPath(podUID)
	mounted, err := isNamespaceMount(path)
	if err != nil {
		return Sandbox{}, err
	}
	if !mounted {
		// A plain file is what a setup interrupted between creating and mounting it leaves.
		if err := removeNamespace(path); err != nil {
			return Sandbox{}, err
		}
		if err := createNamespace(path); err != nil {
			return Sandbox{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Sandbox{}, err
	}

	ns, err := netns.GetFromPath(path)
	if err != nil {
		return Sandbox{}, fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	pod, err := netlink.NewHandleAt(ns)
	if err != nil {
		return Sandbox{}, fmt.Errorf("netlink in namespace %s: %w", path, err)
	}
	defer pod.Close()

	hostName := HostVethName(podUID)
	host, eth0, err := n.ensureVeth(pod, ns, podUID, hostName)
	if err != nil {
		return Sandbox{}, err
	}
	if err := ctx.Err(); err != nil {
		return Sandbox{}, err
	}
	if err := n.attachHostVeth(br, host); err != nil {
		return Sandbox{}, err
	}
	if err := configurePod(pod, eth0, sub, ip, n.mtu); err != nil {
		return Sandbox{}, err
	}
	return Sandbox{NetNSPath: path, IP: ip.String(), HostVeth: hostName}, nil
}

// ensureVeth returns the pod's veth pair, made anew unless both ends exist and belong together.
func (n *Network) ensureVeth(pod *netlink.Handle, ns netns.NsHandle, podUID types.UID, hostName string) (host, eth0 netlink.Link, err error) {
	host, err = ownHostVeth(podUID, hostName)
	if err != nil {
		return nil, nil, err
	}
	eth0, err = podLink(pod)
	if err != nil {
		return nil, nil, err
	}
	if host != nil && eth0 != nil && eth0.Type() == "veth" && eth0.Attrs().ParentIndex == host.Attrs().Index {
		return host, eth0, nil // eth0's peer is the host end: the pair is whole
	}
	// Whatever half exists is stale; deleting one end of a veth deletes both.
	if host != nil {
		if err := netlink.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete stale veth %s: %w", hostName, err)
		}
	}
	if eth0 != nil {
		if err := pod.LinkDel(eth0); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete stale %s in the pod: %w", podIfName, err)
		}
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostName
	attrs.MTU = n.mtu
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: podIfName, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s with peer %s in the pod: %w", hostName, podIfName, err)
	}
	// The alias marks the link as this pod's, so that a hash collision or a stranger's link of the same
	// name is never taken over or deleted. The kernel takes no alias when it creates a link.
	if err := netlink.LinkSetAlias(veth, string(podUID)); err != nil {
		_ = netlink.LinkDel(veth) // unmarked, it must not stay; the error that matters is this one
		return nil, nil, fmt.Errorf("mark veth %s with the pod UID: %w", hostName, err)
	}
	if host, err = netlink.LinkByName(hostName); err != nil {
		return nil, nil, fmt.Errorf("look up new veth %s: %w", hostName, err)
	}
	if eth0, err = pod.LinkByName(podIfName); err != nil {
		return nil, nil, fmt.Errorf("look up new %s in the pod: %w", podIfName, err)
	}
	return host, eth0, nil
}

// errNotOwn says that a link has the name of a pod's host veth but is not the pod's.
var errNotOwn = errors.New("not the pod's veth")

// ownHostVeth returns the link named hostName, nil if there is none, or an error wrapping errNotOwn if it
// is not the pod's. A veth of that name without an alias counts as the pod's: it is what a setup
// interrupted between creating and marking it leaves.
func ownHostVeth(podUID types.UID, hostName string) (netlink.Link, error) {
	l, err := netlink.LinkByName(hostName)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up veth %s: %w", hostName, err)
	}
	if l.Type() != "veth" || (l.Attrs().Alias != string(podUID) && l.Attrs().Alias != "") {
		return nil, fmt.Errorf("link %s (a %s, alias %q) exists and is %w %s", hostName, l.Type(), l.Attrs().Alias, errNotOwn, podUID)
	}
	return l, nil
}

// podLink returns the pod's eth0, nil if there is none.
func podLink(pod *netlink.Handle) (netlink.Link, error) {
	l, err := pod.LinkByName(podIfName)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s in the pod: %w", podIfName, err)
	}
	return l, nil
}

// attachHostVeth makes the host end a port of the bridge, up, in hairpin mode: a pod that reaches a
// Service's address may be sent back to itself through the same port, which a bridge refuses otherwise.
func (n *Network) attachHostVeth(br, host netlink.Link) error {
	name := host.Attrs().Name
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach veth %s to bridge %s: %w", name, n.bridge, err)
		}
	}
	if host.Attrs().MTU != n.mtu {
		if err := netlink.LinkSetMTU(host, n.mtu); err != nil {
			return fmt.Errorf("set MTU of veth %s: %w", name, err)
		}
	}
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("set hairpin mode on veth %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set veth %s up: %w", name, err)
	}
	return nil
}

// configurePod sets loopback up, the pod's address as eth0's only IPv4 address, eth0's MTU, and the
// default route.
func configurePod(pod *netlink.Handle, eth0 netlink.Link, sub subnet, ip netip.Addr, mtu int) error {
	lo, err := pod.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("look up lo in the pod: %w", err)
	}
	if err := pod.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up in the pod: %w", err)
	}
	want := sub.ipNet(ip)
	addrs, err := addrList(pod.AddrList, eth0)
	if err != nil {
		return fmt.Errorf("addresses of %s in the pod: %w", podIfName, err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := pod.AddrDel(eth0, &a); err != nil {
			return fmt.Errorf("remove old address %s of the pod: %w", a.IPNet, err)
		}
	}
	if !have {
		if err := pod.AddrAdd(eth0, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, errExist) {
			return fmt.Errorf("add address %s to the pod: %w", want, err)
		}
	}
	if eth0.Attrs().MTU != mtu {
		if err := pod.LinkSetMTU(eth0, mtu); err != nil {
			return fmt.Errorf("set MTU of %s in the pod: %w", podIfName, err)
		}
	}
	// The link must be up before the route: the gateway is reachable only through the subnet's route,
	// which exists while the link is up.
	if err := pod.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("set %s up in the pod: %w", podIfName, err)
	}
	route := &netlink.Route{
		LinkIndex: eth0.Attrs().Index,
		Family:    netlink.FAMILY_V4,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        net.IP(sub.gateway.AsSlice()),
	}
	if err := pod.RouteReplace(route); err != nil {
		return fmt.Errorf("default route via %s in the pod: %w", sub.gateway, err)
	}
	return nil
}

// Status returns the pod's network as it exists. ok reports whether the pod's namespace is mounted;
// Sandbox.IP and Sandbox.HostVeth are empty when eth0 has no address or the pair is not whole, which a
// new Setup repairs.
func (n *Network) Status(podUID types.UID) (sb Sandbox, ok bool, err error) {
	if err := validUID(podUID); err != nil {
		return Sandbox{}, false, err
	}
	path := n.nsPath(podUID)
	mounted, err := isNamespaceMount(path)
	if err != nil || !mounted {
		return Sandbox{}, false, err
	}
	sb.NetNSPath = path
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return Sandbox{}, false, fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	pod, err := netlink.NewHandleAt(ns)
	if err != nil {
		return Sandbox{}, false, fmt.Errorf("netlink in namespace %s: %w", path, err)
	}
	defer pod.Close()
	eth0, err := podLink(pod)
	if err != nil || eth0 == nil {
		return sb, true, err
	}
	addrs, err := addrList(pod.AddrList, eth0)
	if err != nil {
		return Sandbox{}, false, fmt.Errorf("addresses of %s in pod %s: %w", podIfName, podUID, err)
	}
	if len(addrs) > 0 {
		sb.IP = addrs[0].IP.String()
	}
	hostName := HostVethName(podUID)
	host, err := ownHostVeth(podUID, hostName)
	if err != nil && !errors.Is(err, errNotOwn) {
		return Sandbox{}, false, err
	}
	if host != nil && eth0.Attrs().ParentIndex == host.Attrs().Index {
		sb.HostVeth = hostName
	}
	return sb, true, nil
}

// Teardown removes the pod's network: the veth pair, the namespace mount and its file. It is idempotent
// and removes whatever part exists, so it also cleans up after a Setup that failed half way. Processes
// still in the namespace keep it alive (without its veth) until they exit: stop them first.
func (n *Network) Teardown(ctx context.Context, podUID types.UID) error {
	if err := validUID(podUID); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	path := n.nsPath(podUID)
	mounted, err := isNamespaceMount(path)
	if err != nil {
		return fmt.Errorf("tear down network of pod %s: %w", podUID, err)
	}
	if mounted {
		// Deleting eth0 from inside removes the pair now; the namespace's own cleanup, when it is
		// unmounted, runs later in the kernel and would leave the host end for a while.
		if err := deletePodLink(path); err != nil {
			return fmt.Errorf("tear down network of pod %s: %w", podUID, err)
		}
	}
	// A link of that name that is not the pod's is a stranger's: it stays.
	host, err := ownHostVeth(podUID, HostVethName(podUID))
	if err != nil && !errors.Is(err, errNotOwn) {
		return fmt.Errorf("tear down network of pod %s: %w", podUID, err)
	}
	if host != nil {
		if err := netlink.LinkDel(host); err != nil && !isNotFound(err) {
			return fmt.Errorf("tear down network of pod %s: delete veth %s: %w", podUID, host.Attrs().Name, err)
		}
	}
	if err := removeNamespace(path); err != nil {
		return fmt.Errorf("tear down network of pod %s: %w", podUID, err)
	}
	return nil
}

func deletePodLink(path string) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	pod, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in namespace %s: %w", path, err)
	}
	defer pod.Close()
	eth0, err := podLink(pod)
	if err != nil || eth0 == nil {
		return err
	}
	if err := pod.LinkDel(eth0); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s in the pod: %w", podIfName, err)
	}
	return nil
}

// List returns the UIDs of the pods that have a namespace file in the run dir, mounted or left over by
// an interrupted setup, so that the agent can tear down those of pods that are gone.
func (n *Network) List() ([]types.UID, error) {
	entries, err := os.ReadDir(n.runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod namespaces: %w", err)
	}
	var uids []types.UID
	for _, e := range entries {
		uid, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if ok && validUID(types.UID(uid)) == nil {
			uids = append(uids, types.UID(uid))
		}
	}
	return uids, nil
}
