package nodeipam

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, cidrs ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidrs[0], cidrs
	}
	return n
}

func TestNextFree(t *testing.T) {
	tests := []struct {
		name     string
		cluster  string
		maskSize int
		nodes    []corev1.Node
		also     []string
		want     string // "" means the range is full
	}{
		{name: "first subnet of an empty range", cluster: "10.42.0.0/16", maskSize: 24, want: "10.42.0.0/24"},
		{name: "skips subnets of nodes", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.42.0.0/24"), node("b", "10.42.1.0/24")}, want: "10.42.2.0/24"},
		{name: "reuses a hole left by a deleted node", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.42.0.0/24"), node("c", "10.42.2.0/24")}, want: "10.42.1.0/24"},
		{name: "counts subnets written but not yet seen", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.42.0.0/24"), node("b")}, also: []string{"10.42.1.0/24"}, want: "10.42.2.0/24"},
		{name: "a node with only spec.podCIDR counts", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{{Spec: corev1.NodeSpec{PodCIDR: "10.42.0.0/24"}}}, want: "10.42.1.0/24"},
		{name: "a larger CIDR set by hand takes every subnet it covers", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.42.0.0/23")}, want: "10.42.2.0/24"},
		{name: "a smaller CIDR set by hand takes its whole subnet", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.42.0.128/25")}, want: "10.42.1.0/24"},
		{name: "CIDRs outside the range are ignored", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.99.0.0/24"), node("b", "fd00::/64"), node("c", "not-a-cidr")}, want: "10.42.0.0/24"},
		{name: "a CIDR covering the whole range fills it", cluster: "10.42.0.0/16", maskSize: 24,
			nodes: []corev1.Node{node("a", "10.0.0.0/8")}, want: ""},
		{name: "full range", cluster: "10.42.0.0/24", maskSize: 25,
			nodes: []corev1.Node{node("a", "10.42.0.0/25"), node("b", "10.42.0.128/25")}, want: ""},
		{name: "range of one subnet", cluster: "10.42.0.0/24", maskSize: 24, want: "10.42.0.0/24"},
		{name: "host bits of the cluster CIDR are ignored", cluster: "10.42.7.9/16", maskSize: 24, want: "10.42.0.0/24"},
		{name: "IPv6", cluster: "fd00:42::/56", maskSize: 64,
			nodes: []corev1.Node{node("a", "fd00:42::/64")}, want: "fd00:42:0:1::/64"},
		{name: "last subnet of the range", cluster: "10.42.0.0/30", maskSize: 32,
			nodes: []corev1.Node{node("a", "10.42.0.0/32"), node("b", "10.42.0.1/32"), node("c", "10.42.0.2/32")}, want: "10.42.0.3/32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var also []netip.Prefix
			for _, a := range tt.also {
				also = append(also, netip.MustParsePrefix(a))
			}
			got, ok, err := nextFree(netip.MustParsePrefix(tt.cluster), tt.maskSize, tt.nodes, also)
			if err != nil {
				t.Fatalf("nextFree: %v", err)
			}
			switch {
			case tt.want == "" && ok:
				t.Errorf("got %v, want a full range", got)
			case tt.want != "" && (!ok || got.String() != tt.want):
				t.Errorf("got %v (ok %v), want %s", got, ok, tt.want)
			}
		})
	}
}

func TestNewCIDRSetRejectsBadSizes(t *testing.T) {
	tests := []struct {
		name     string
		cluster  string
		maskSize int
	}{
		{name: "mask shorter than the cluster CIDR", cluster: "10.42.0.0/16", maskSize: 8},
		{name: "mask longer than an address", cluster: "10.42.0.0/16", maskSize: 33},
		{name: "more than 2^16 subnets", cluster: "10.0.0.0/8", maskSize: 25},
		{name: "more than 2^16 IPv6 subnets", cluster: "fd00::/48", maskSize: 65},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newCIDRSet(netip.MustParsePrefix(tt.cluster), tt.maskSize); err == nil {
				t.Errorf("newCIDRSet(%s, %d) succeeded, want an error", tt.cluster, tt.maskSize)
			}
		})
	}
}

func TestSubnetsCoverTheRangeInOrder(t *testing.T) {
	set, err := newCIDRSet(netip.MustParsePrefix("10.42.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.used) != 256 {
		t.Fatalf("%d subnets, want 256", len(set.used))
	}
	for i, want := range map[int]string{0: "10.42.0.0/24", 1: "10.42.1.0/24", 255: "10.42.255.0/24"} {
		if got := set.subnet(i).String(); got != want {
			t.Errorf("subnet(%d) = %s, want %s", i, got, want)
		}
	}
}
