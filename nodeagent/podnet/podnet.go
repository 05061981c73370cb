package podnet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"k8s.io/apimachinery/pkg/types"
)

// Defaults of Config.
const (
	DefaultBridge = "skiff0"
	DefaultRunDir = "/run/netns"
	DefaultMTU    = 1500
)

const (
	// nsPrefix starts the name of every namespace file this package makes, so that List can tell its
	// own from those of other tools sharing the run dir.
	nsPrefix = "skiff-"
	// podIfName is the pod's end of its veth pair.
	podIfName = "eth0"
	// maxIfName is IFNAMSIZ less the terminating NUL.
	maxIfName = 15
)

// Config says where the pod network lives on the node. Zero fields take the defaults.
type Config struct {
	// Bridge is the name of the node bridge, DefaultBridge if empty.
	Bridge string
	// RunDir holds the pods' namespace files, DefaultRunDir if empty. It is made a mount point of its
	// own if it is not one (as `ip netns` does), so that the namespace mounts below it can be shared
	// with mount namespaces made later and unmounted in all of them at once.
	RunDir string
	// MTU of the bridge and the veth pairs, DefaultMTU if zero.
	MTU int
}

// Network sets up and tears down pods' networks on one node. It is safe for concurrent use; calls for
// one pod must not overlap.
type Network struct {
	bridge string
	runDir string
	mtu    int

	// runDirMu serialises making the run dir a mount point, so that two pods set up at once do not
	// stack two bind mounts.
	runDirMu sync.Mutex
}

// Sandbox is a pod's network as it exists on the node.
type Sandbox struct {
	// NetNSPath is the file a container's spec names as its network namespace.
	NetNSPath string
	// IP is the pod's IPv4 address on eth0, empty if it has none.
	IP string
	// HostVeth is the host end of the pod's veth pair, empty if it does not exist.
	HostVeth string
}

// New checks cfg and returns a Network for it. It changes nothing on the node.
func New(cfg Config) (*Network, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if cfg.RunDir == "" {
		cfg.RunDir = DefaultRunDir
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if err := validIfName(cfg.Bridge); err != nil {
		return nil, fmt.Errorf("bridge name: %w", err)
	}
	if !filepath.IsAbs(cfg.RunDir) {
		return nil, fmt.Errorf("run dir %q is not an absolute path", cfg.RunDir)
	}
	// 68 is the least MTU IPv4 allows; 65535 the most a veth takes.
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("MTU %d is out of range 68-65535", cfg.MTU)
	}
	return &Network{bridge: cfg.Bridge, runDir: filepath.Clean(cfg.RunDir), mtu: cfg.MTU}, nil
}

// Bridge returns the name of the node bridge.
func (n *Network) Bridge() string { return n.bridge }

// NetNSPath returns the path of the pod's namespace file, whether it exists or not.
func (n *Network) NetNSPath(podUID types.UID) (string, error) {
	if err := validUID(podUID); err != nil {
		return "", err
	}
	return n.nsPath(podUID), nil
}

func (n *Network) nsPath(podUID types.UID) string {
	return filepath.Join(n.runDir, nsPrefix+string(podUID))
}

// HostVethName returns the name of the host end of the pod's veth pair: "veth" and 11 hex digits of a
// hash of the UID, so that it fits IFNAMSIZ and is the same after an agent restart.
func HostVethName(podUID types.UID) string {
	sum := sha256.Sum256([]byte(podUID))
	return "veth" + hex.EncodeToString(sum[:])[:maxIfName-len("veth")]
}

// validUID accepts what can safely be part of a file name; Kubernetes UIDs are UUIDs.
func validUID(uid types.UID) error {
	s := string(uid)
	if s == "" {
		return errors.New("empty pod UID")
	}
	if len(s) > 128 {
		return fmt.Errorf("pod UID %.20q... is longer than 128 bytes", s)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("pod UID %q is not a valid name", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("pod UID %q has a character other than letters, digits, '-', '_' and '.'", s)
		}
	}
	return nil
}

func validIfName(name string) error {
	if name == "" || len(name) > maxIfName {
		return fmt.Errorf("interface name %q must have 1 to %d characters", name, maxIfName)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("interface name %q is not valid", name)
	}
	return nil
}

// subnet is the node's pod CIDR as the bridge holds it.
type subnet struct {
	prefix  netip.Prefix // masked
	gateway netip.Addr   // the first host address, the bridge's
}

func parsePodCIDR(podCIDR string) (subnet, error) {
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return subnet{}, fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	if !p.Addr().Is4() {
		return subnet{}, fmt.Errorf("pod CIDR %s is not IPv4", p)
	}
	// A /31 or /32 leaves no address for a pod beside the gateway.
	if p.Bits() > 30 {
		return subnet{}, fmt.Errorf("pod CIDR %s is too small: a /30 at least is needed", p)
	}
	p = p.Masked()
	return subnet{prefix: p, gateway: p.Addr().Next()}, nil
}

// checkPodIP accepts an address of the subnet other than its network, gateway and broadcast addresses.
func (s subnet) checkPodIP(podIP string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(podIP)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pod IP %q: %w", podIP, err)
	}
	ip = ip.Unmap()
	if !s.prefix.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("pod IP %s is outside the node's pod CIDR %s", ip, s.prefix)
	}
	if ip == s.prefix.Addr() || ip == s.gateway || ip == s.broadcast() {
		return netip.Addr{}, fmt.Errorf("pod IP %s is the network, gateway or broadcast address of %s", ip, s.prefix)
	}
	return ip, nil
}

func (s subnet) broadcast() netip.Addr {
	a := s.prefix.Addr().As4()
	hostBits := 32 - s.prefix.Bits()
	for i := 3; i >= 0 && hostBits > 0; i-- {
		take := min(hostBits, 8)
		a[i] |= byte(1<<take - 1)
		hostBits -= take
	}
	return netip.AddrFrom4(a)
}

// ipNet is addr with the subnet's prefix length, as netlink takes it.
func (s subnet) ipNet(addr netip.Addr) *net.IPNet {
	return &net.IPNet{IP: net.IP(addr.AsSlice()), Mask: net.CIDRMask(s.prefix.Bits(), 32)}
}

// EnsureBridge makes the node bridge exist, up, with the configured MTU, and holding the gateway address
// of podCIDR as its only IPv4 address: a changed pod CIDR replaces the old address. It is idempotent.
//
// Forwarding (net.ipv4.ip_forward), routes to other nodes' pod CIDRs and masquerading are not set here:
// they are the node network's, set up once beside this call.
func (n *Network) EnsureBridge(podCIDR string) error {
	sub, err := parsePodCIDR(podCIDR)
	if err != nil {
		return err
	}
	br, err := n.bridgeLink()
	if err != nil {
		return err
	}
	if br == nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.bridge
		attrs.MTU = n.mtu
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, errExist) {
			return fmt.Errorf("create bridge %s: %w", n.bridge, err)
		}
		if br, err = n.bridgeLink(); err != nil {
			return err
		}
		if br == nil {
			return fmt.Errorf("bridge %s vanished after it was created", n.bridge)
		}
	}
	if br.Attrs().MTU != n.mtu {
		if err := netlink.LinkSetMTU(br, n.mtu); err != nil {
			return fmt.Errorf("set MTU %d of bridge %s: %w", n.mtu, n.bridge, err)
		}
	}
	want := sub.ipNet(sub.gateway)
	addrs, err := addrList(netlink.AddrList, br)
	if err != nil {
		return fmt.Errorf("addresses of bridge %s: %w", n.bridge, err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := netlink.AddrDel(br, &a); err != nil {
			return fmt.Errorf("remove old address %s of bridge %s: %w", a.IPNet, n.bridge, err)
		}
	}
	if !have {
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, errExist) {
			return fmt.Errorf("add address %s to bridge %s: %w", want, n.bridge, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge %s up: %w", n.bridge, err)
	}
	return nil
}

// DeleteBridge removes the node bridge, if it exists. The pods' veths stay but lose their port. It is
// meant for uninstalling and tests.
func (n *Network) DeleteBridge() error {
	br, err := n.bridgeLink()
	if err != nil || br == nil {
		return err
	}
	if err := netlink.LinkDel(br); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete bridge %s: %w", n.bridge, err)
	}
	return nil
}

// bridgeLink returns the bridge, nil if it does not exist, or an error if the name is taken by a link of
// another type.
func (n *Network) bridgeLink() (netlink.Link, error) {
	l, err := netlink.LinkByName(n.bridge)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", n.bridge, err)
	}
	if l.Type() != "bridge" {
		return nil, fmt.Errorf("link %s is a %s, not a bridge", n.bridge, l.Type())
	}
	return l, nil
}

// bridgeSubnet reads the pod CIDR back from the bridge's address, as EnsureBridge set it.
func (n *Network) bridgeSubnet() (netlink.Link, subnet, error) {
	br, err := n.bridgeLink()
	if err != nil {
		return nil, subnet{}, err
	}
	if br == nil {
		return nil, subnet{}, fmt.Errorf("bridge %s does not exist: the pod CIDR must be set up first (EnsureBridge)", n.bridge)
	}
	addrs, err := addrList(netlink.AddrList, br)
	if err != nil {
		return nil, subnet{}, fmt.Errorf("addresses of bridge %s: %w", n.bridge, err)
	}
	if len(addrs) != 1 {
		return nil, subnet{}, fmt.Errorf("bridge %s has %d IPv4 addresses, want the one gateway address of the pod CIDR", n.bridge, len(addrs))
	}
	ones, _ := addrs[0].Mask.Size()
	gw, ok := netip.AddrFromSlice(addrs[0].IP.To4())
	if !ok {
		return nil, subnet{}, fmt.Errorf("bridge %s address %s is not IPv4", n.bridge, addrs[0].IPNet)
	}
	sub, err := parsePodCIDR(netip.PrefixFrom(gw, ones).String())
	if err != nil {
		return nil, subnet{}, fmt.Errorf("bridge %s: %w", n.bridge, err)
	}
	if sub.gateway != gw {
		return nil, subnet{}, fmt.Errorf("bridge %s holds %s, not the first address of its CIDR %s", n.bridge, addrs[0].IPNet, sub.prefix)
	}
	return br, sub, nil
}
