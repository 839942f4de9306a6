package srctable

import "net/netip"

// u128 is an address as an unsigned integer: IPv4 in the low 32 bits.
type u128 struct{ hi, lo uint64 }

func fromAddr(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var x u128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

// ones returns a value with the n low bits set.
func ones(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{lo: 1<<n - 1}
	case n == 64:
		return u128{lo: ^uint64(0)}
	case n < 128:
		return u128{hi: 1<<(n-64) - 1, lo: ^uint64(0)}
	}
	return u128{hi: ^uint64(0), lo: ^uint64(0)}
}

func (x u128) or(y u128) u128 { return u128{x.hi | y.hi, x.lo | y.lo} }

func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi:
		return -1
	case x.hi > y.hi:
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

func (x u128) less(y u128) bool { return x.cmp(y) < 0 }

// inc returns x+1 and whether it overflowed past the all-ones value.
func (x u128) inc() (u128, bool) {
	x.lo++
	if x.lo == 0 {
		x.hi++
		return x, x.hi == 0
	}
	return x, false
}

func (x u128) dec() u128 {
	if x.lo == 0 {
		x.hi--
	}
	x.lo--
	return x
}

// shl shifts left by n < 128.
func (x u128) shl(n int) u128 {
	switch {
	case n == 0:
		return x
	case n >= 64:
		return u128{hi: x.lo << (n - 64)}
	}
	return u128{hi: x.hi<<n | x.lo>>(64-n), lo: x.lo << n}
}

func (x u128) add(y u128) u128 {
	lo := x.lo + y.lo
	carry := uint64(0)
	if lo < x.lo {
		carry = 1
	}
	return u128{hi: x.hi + y.hi + carry, lo: lo}
}

// chunk returns n bits of a width-bit address starting d bits from its top,
// padded with zero bits on the right past the address's end.
func (x u128) chunk(width, d, n int) uint64 {
	// Left-align the address in 128 bits, then take bits [d, d+n).
	a := x.shl(128 - width)
	s := 128 - d - n // right shift that brings the chunk to the bottom
	var v uint64
	switch {
	case s >= 64:
		v = a.hi >> (s - 64)
	case s > 0:
		v = a.hi<<(64-s) | a.lo>>s
	case s == 0:
		v = a.lo
	default: // past the end: pad
		v = a.lo << -s
	}
	return v & (1<<n - 1)
}

func (x u128) sub(y u128) u128 {
	lo := x.lo - y.lo
	borrow := uint64(0)
	if x.lo < y.lo {
		borrow = 1
	}
	return u128{hi: x.hi - y.hi - borrow, lo: lo}
}

// shr shifts right by n < 128.
func (x u128) shr(n int) u128 {
	switch {
	case n == 0:
		return x
	case n >= 64:
		return u128{lo: x.hi >> (n - 64)}
	}
	return u128{hi: x.hi >> n, lo: x.lo>>n | x.hi<<(64-n)}
}
