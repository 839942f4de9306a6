// Package geodata generates synthetic country tables that look like a real
// GeoLite2-Country database: the same number of networks per address family,
// a realistic prefix-length mix, networks laid out in allocation-like runs
// with gaps, and countries drawn from a skewed distribution. Tests and
// benchmarks use it instead of shipping MaxMind data (whose licence forbids
// redistribution here, and which is far too large to commit).
//
// It is for tests and benchmarks only: no production package imports it.
package geodata

import (
	"math/rand/v2"
	"net/netip"
	"sort"
)

// Network is one prefix of a generated country table.
type Network struct {
	Prefix  netip.Prefix
	Country string // ISO 3166-1 alpha-2, "" for a network with no country
}

// Countries lists the codes Generate draws from, most frequent first.
var Countries = []string{
	"US", "CN", "DE", "GB", "JP", "FR", "KR", "BR", "CA", "IT", "NL", "AU", "RU", "IN", "ES", "SE",
	"MX", "PL", "TW", "CH", "VN", "ID", "TR", "AR", "ZA", "BE", "AT", "DK", "NO", "FI", "IE", "UA",
	"CZ", "RO", "PT", "IL", "HK", "SG", "TH", "MY", "CO", "CL", "EG", "IR", "SA", "AE", "NZ", "GR",
	"HU", "BG", "PH", "PK", "NG", "KE", "MA", "PE", "VE", "BD", "KZ", "SK", "LT", "LV", "EE", "SI",
	"HR", "RS", "BY", "GE", "AM", "AZ", "UZ", "MD", "IS", "LU", "MT", "CY", "TN", "DZ", "GH", "CI",
	"SN", "TZ", "UG", "ET", "ZW", "ZM", "MZ", "AO", "CM", "NP", "LK", "MM", "KH", "LA", "MN", "QA",
	"KW", "BH", "OM", "JO", "LB", "IQ", "SY", "YE", "AF", "EC", "BO", "PY", "UY", "CR", "PA", "GT",
	"HN", "SV", "NI", "DO", "CU", "JM", "TT", "PR", "BS", "BB", "BZ", "GY", "SR", "FJ", "PG", "NC",
	"PF", "GU", "MO", "BN", "BT", "MV", "MU", "SC", "RE", "MG", "BW", "NA", "LS", "SZ", "MW", "RW",
	"BI", "SO", "DJ", "ER", "SD", "SS", "LY", "TD", "NE", "ML", "BF", "GN", "SL", "LR", "TG", "BJ",
	"GA", "CG", "CD", "CF", "GQ", "GM", "GW", "CV", "ST", "MR", "KM", "AL", "MK", "ME", "BA", "XK",
	"AD", "MC", "SM", "LI", "VA", "GI", "FO", "GL", "IM", "JE", "GG", "AX", "KG", "TJ", "TM", "EU",
}

// Weights of prefix lengths, per family, in parts per thousand. They follow
// the shape of GeoLite2-Country: IPv4 dominated by /24 and /22 with a tail of
// long prefixes, IPv6 by /32 and /48 allocations with sub-allocations below.
var (
	v4Mix = map[int]int{
		14: 1, 15: 2, 16: 12, 17: 12, 18: 20, 19: 30, 20: 50,
		21: 70, 22: 115, 23: 95, 24: 420, 25: 20, 26: 20, 27: 20, 28: 20, 29: 25, 30: 10, 31: 5, 32: 33,
	}
	v6Mix = map[int]int{
		19: 2, 20: 2, 22: 3, 23: 3, 24: 5, 26: 5, 27: 5, 28: 10, 29: 90, 30: 20, 31: 15, 32: 250,
		33: 10, 34: 10, 35: 10, 36: 30, 38: 10, 40: 40, 42: 10, 44: 50, 46: 10, 47: 20, 48: 300,
		52: 10, 56: 40, 60: 5, 64: 30, 80: 2, 96: 2, 112: 2, 128: 4,
	}
)

// Generate returns about v4 IPv4 and v6 IPv6 networks, disjoint within each
// family, sorted, deterministic for a given seed. About one network in fifty
// has no country.
func Generate(seed uint64, v4, v6 int) []Network {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Network, 0, v4+v6)
	out = appendFamily(out, r, v4, 32, v4Mix, netip.AddrFrom4([4]byte{1, 0, 0, 0}), netip.AddrFrom4([4]byte{223, 255, 255, 255}))
	out = appendFamily(out, r, v6, 128, v6Mix, netip.MustParseAddr("2001::"), netip.MustParseAddr("2c0f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
	return out
}

// appendFamily lays networks out from lo upwards: runs of neighbouring
// networks (as a registry allocates them) separated by gaps, each run mostly
// one country.
func appendFamily(out []Network, r *rand.Rand, n, bits int, mix map[int]int, lo, hi netip.Addr) []Network {
	lengths, cum := cumulative(mix)
	pick := func() int {
		x := r.IntN(cum[len(cum)-1])
		i := sort.SearchInts(cum, x+1)
		return lengths[i]
	}
	// Scale the gaps so that n networks span roughly the range [lo, hi].
	cursor := lo
	country := Countries[0]
	start := len(out)
	for len(out)-start < n {
		if r.IntN(8) == 0 { // new run: gap and maybe a new country
			cursor = skip(cursor, bits, gapBits(r, bits))
			country = zipf(r)
		}
		l := pick()
		p, ok := alignUp(cursor, l)
		if !ok || p.Addr().Compare(hi) > 0 {
			break
		}
		c := country
		switch x := r.IntN(100); {
		case x < 2:
			c = ""
		case x < 12:
			c = zipf(r)
		}
		out = append(out, Network{Prefix: p, Country: c})
		next, ok := LastAddr(p).Next(), LastAddr(p).Next().IsValid()
		if !ok {
			break
		}
		cursor = next
	}
	return out
}

func cumulative(mix map[int]int) ([]int, []int) {
	var lengths []int
	for l := range mix {
		lengths = append(lengths, l)
	}
	sort.Ints(lengths)
	cum := make([]int, len(lengths))
	t := 0
	for i, l := range lengths {
		t += mix[l]
		cum[i] = t
	}
	return lengths, cum
}

func zipf(r *rand.Rand) string {
	// Rank-skewed: the first countries hold most of the address space.
	i := int(float64(len(Countries)) * r.Float64() * r.Float64() * r.Float64())
	return Countries[i]
}

// gapBits is the size, as a power of two, of the gap before a run.
func gapBits(r *rand.Rand, bits int) int {
	if bits == 32 {
		return 8 + r.IntN(6) // 256 .. 8k addresses
	}
	return 64 + r.IntN(27) // sparse, as IPv6 allocations are
}

func skip(a netip.Addr, bits, by int) netip.Addr {
	b := a.As16()
	// add 1<<by to the 128-bit big-endian value (as IPv4-mapped for IPv4)
	byteIdx := 15 - by/8
	carry := uint16(1) << (by % 8)
	for i := byteIdx; i >= 0 && carry != 0; i-- {
		s := uint16(b[i]) + carry
		b[i] = byte(s)
		carry = s >> 8
	}
	out := netip.AddrFrom16(b)
	if bits == 32 {
		if !out.Is4In6() {
			return netip.AddrFrom4([4]byte{255, 255, 255, 255})
		}
		return out.Unmap()
	}
	return out
}

// alignUp returns the first prefix of length l starting at or after a.
func alignUp(a netip.Addr, l int) (netip.Prefix, bool) {
	p := netip.PrefixFrom(a, l).Masked()
	if p.Addr() == a {
		return p, true
	}
	next := LastAddr(p).Next()
	if !next.IsValid() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(next, l), true
}

// LastAddr is the highest address in p.
func LastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// RandomAddr returns a uniformly random address inside p.
func RandomAddr(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
