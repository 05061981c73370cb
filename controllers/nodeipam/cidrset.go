package nodeipam

import (
	"fmt"
	"math/big"
	"net/netip"
)

// maxSubnetBits bounds how many subnets a cluster CIDR may be cut into (2^16), as upstream's cidrset.
const maxSubnetBits = 16

// cidrSet is the cluster CIDR cut into subnets of one prefix length, each free or used.
type cidrSet struct {
	cluster  netip.Prefix
	maskSize int
	used     []bool
	free     int
}

// newCIDRSet cuts cluster into subnets of maskSize bits.
func newCIDRSet(cluster netip.Prefix, maskSize int) (*cidrSet, error) {
	cluster = cluster.Masked()
	switch {
	case !cluster.IsValid():
		return nil, fmt.Errorf("invalid cluster CIDR %v", cluster)
	case maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen():
		return nil, fmt.Errorf("node CIDR mask size %d does not fit cluster CIDR %v", maskSize, cluster)
	case maskSize-cluster.Bits() > maxSubnetBits:
		return nil, fmt.Errorf("node CIDR mask size %d cuts cluster CIDR %v into more than 2^%d subnets", maskSize, cluster, maxSubnetBits)
	}
	n := 1 << (maskSize - cluster.Bits())
	return &cidrSet{cluster: cluster, maskSize: maskSize, used: make([]bool, n), free: n}, nil
}

// subnet is the i-th subnet of the set.
func (s *cidrSet) subnet(i int) netip.Prefix {
	off := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.cluster.Addr().BitLen()-s.maskSize))
	return netip.PrefixFrom(addrAdd(s.cluster.Addr(), off), s.maskSize)
}

// occupy marks every subnet that p overlaps as used; a p outside the cluster CIDR (or of the other IP
// family) changes nothing and reports false.
func (s *cidrSet) occupy(p netip.Prefix) bool {
	p = p.Masked()
	if !p.IsValid() || p.Addr().BitLen() != s.cluster.Addr().BitLen() || !p.Overlaps(s.cluster) {
		return false
	}
	// Overlapping prefixes nest: the smaller one (more bits) lies within the larger.
	if p.Bits() <= s.cluster.Bits() {
		for i := range s.used {
			s.mark(i)
		}
		return true
	}
	shift := uint(s.cluster.Addr().BitLen() - s.maskSize)
	first := new(big.Int).Rsh(addrOffset(s.cluster.Addr(), p.Addr()), shift)
	if p.Bits() >= s.maskSize {
		s.mark(int(first.Int64()))
		return true
	}
	count := 1 << (s.maskSize - p.Bits())
	for i := 0; i < count; i++ {
		s.mark(int(first.Int64()) + i)
	}
	return true
}

func (s *cidrSet) mark(i int) {
	if !s.used[i] {
		s.used[i] = true
		s.free--
	}
}

// next is the lowest free subnet, if any.
func (s *cidrSet) next() (netip.Prefix, bool) {
	if s.free == 0 {
		return netip.Prefix{}, false
	}
	for i, used := range s.used {
		if !used {
			return s.subnet(i), true
		}
	}
	return netip.Prefix{}, false
}

// addrOffset is a - base as an integer; a must not be below base.
func addrOffset(base, a netip.Addr) *big.Int {
	return new(big.Int).Sub(new(big.Int).SetBytes(a.AsSlice()), new(big.Int).SetBytes(base.AsSlice()))
}

// addrAdd is base + off, in base's family.
func addrAdd(base netip.Addr, off *big.Int) netip.Addr {
	sum := new(big.Int).Add(new(big.Int).SetBytes(base.AsSlice()), off)
	b := make([]byte, base.BitLen()/8)
	sum.FillBytes(b)
	a, _ := netip.AddrFromSlice(b)
	return a
}
