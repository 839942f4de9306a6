// Package iprange turns an address range written a.b.c.d-e.f.g.h (or its
// IPv6 equivalent) into its minimal CIDR cover: the fewest prefixes whose
// union is exactly the range, the form the datapath's longest-prefix-match
// tables hold.
package iprange

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
)

// MaxPrefixes is the most prefixes a range may expand to. The minimal
// cover of any range has at most 2*bits-2 prefixes (62 for IPv4, 254 for
// IPv6); a range needing more than this is almost always a typo in one of
// its ends, and each prefix is an entry of the datapath's tables.
const MaxPrefixes = 32

// ErrNotRange is returned by Parse for a string without a '-': not a
// range, so the caller reads it as a prefix or address.
var ErrNotRange = errors.New("not an address range")

// IsRange reports whether s is written as a range: it holds a '-'
// (prefixes and addresses never do) with an IP address on at least one
// side, so that a plain typo such as "not-an-address" is reported as a
// bad prefix rather than as a bad range.
func IsRange(s string) bool {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	_, errLo := netip.ParseAddr(strings.TrimSpace(lo))
	_, errHi := netip.ParseAddr(strings.TrimSpace(hi))
	return errLo == nil || errHi == nil
}

// Parse reads "FROM-TO" (spaces around the '-' allowed) and returns the
// minimal CIDR cover of FROM..TO, sorted by address. IPv4-mapped IPv6
// addresses are read as the IPv4 addresses they name.
func Parse(s string) ([]netip.Prefix, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return nil, ErrNotRange
	}
	lo, hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
	from, err := netip.ParseAddr(lo)
	if err != nil || from.Zone() != "" {
		return nil, fmt.Errorf("range %q: %q is not an IP address (want e.g. 192.0.2.0-192.0.2.130)", s, lo)
	}
	to, err := netip.ParseAddr(hi)
	if err != nil || to.Zone() != "" {
		return nil, fmt.Errorf("range %q: %q is not an IP address (want e.g. 192.0.2.0-192.0.2.130)", s, hi)
	}
	return Cover(from.Unmap(), to.Unmap())
}

// Cover returns the minimal CIDR cover of from..to (both included),
// sorted by address and disjoint. Both ends must be of one family, from
// not after to, and the cover at most MaxPrefixes prefixes.
func Cover(from, to netip.Addr) ([]netip.Prefix, error) {
	if from.Is4() != to.Is4() {
		return nil, fmt.Errorf("range %v-%v mixes IPv4 and IPv6; give one range per family", from, to)
	}
	if to.Less(from) {
		return nil, fmt.Errorf("range %v-%v is reversed: its first address is after its last; write %v-%v", from, to, to, from)
	}
	width := from.BitLen()
	x, end := toU128(from), toU128(to)
	var out []netip.Prefix
	for {
		// h host bits: as many as x's alignment allows and the block
		// x..x+2^h-1 stays inside the range.
		h := min(x.trailingZeros(width), end.sub(x).log2Plus1())
		if len(out) == MaxPrefixes {
			return nil, fmt.Errorf("range %v-%v needs more than %d CIDR prefixes; check its ends, or split it into a few ranges or prefixes", from, to, MaxPrefixes)
		}
		out = append(out, netip.PrefixFrom(x.addr(width), width-h))
		if h == width {
			return out, nil // the whole address space
		}
		next, carry := x.add(u128{lo: 1}.shl(h))
		if carry || next.bitLen() > width || end.less(next) {
			return out, nil
		}
		x = next
	}
}

// u128 is an address as a number: IPv4 in the low 32 bits.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var u u128
	for i := range 8 {
		u.hi = u.hi<<8 | uint64(b[i])
		u.lo = u.lo<<8 | uint64(b[8+i])
	}
	return u
}

func (u u128) addr(width int) netip.Addr {
	if width == 32 {
		return netip.AddrFrom4([4]byte{byte(u.lo >> 24), byte(u.lo >> 16), byte(u.lo >> 8), byte(u.lo)})
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(u.hi >> (56 - 8*i))
		b[8+i] = byte(u.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

func (u u128) trailingZeros(width int) int {
	var tz int
	if u.lo != 0 {
		tz = bits.TrailingZeros64(u.lo)
	} else {
		tz = 64 + bits.TrailingZeros64(u.hi) // 128 when u is 0
	}
	return min(tz, width)
}

func (u u128) bitLen() int {
	if u.hi != 0 {
		return 64 + bits.Len64(u.hi)
	}
	return bits.Len64(u.lo)
}

// log2Plus1 is floor(log2(u+1)): the largest h with 2^h-1 <= u.
func (u u128) log2Plus1() int {
	v, carry := u.add(u128{lo: 1})
	if carry {
		return 128
	}
	return v.bitLen() - 1
}

func (u u128) add(v u128) (u128, bool) {
	lo, c := bits.Add64(u.lo, v.lo, 0)
	hi, c := bits.Add64(u.hi, v.hi, c)
	return u128{hi, lo}, c != 0
}

func (u u128) sub(v u128) u128 {
	lo, b := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, b)
	return u128{hi, lo}
}

func (u u128) shl(n int) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{hi: u.lo << (n - 64)}
	case n == 0:
		return u
	}
	return u128{hi: u.hi<<n | u.lo>>(64-n), lo: u.lo << n}
}

func (u u128) less(v u128) bool { return u.hi < v.hi || u.hi == v.hi && u.lo < v.lo }
