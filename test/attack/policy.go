package main

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/geodata"
)

// The policy under attack: what a European mail provider would configure.
// IMAPS (tcp/993) and QUIC (udp/443, webmail and ActiveSync) admit a
// partner allowlist and the networks of 18 European countries, out of a
// full-scale synthetic GeoLite2-Country table; everything else is dropped.
// The same data drives all four enforcers.
const (
	tableSeed = 7 // as test/bench, so the tables match
	fullV4    = 607000
	fullV6    = 652000

	imapsPort = 993
	quicPort  = 443
)

// allowedCountries are the countries admitted.
var allowedCountries = []string{
	"AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "LU", "NL", "NO", "PL", "PT", "SE",
}

// scenario is the policy plus the sources that exercise it.
type scenario struct {
	Policy *policy.Policy
	Model  *policy.Model
	// Geo4 and Geo6 are the allowed countries' networks, Allow4 and Allow6
	// the allowlist, each aggregated: what nftables and ipset load.
	Geo4, Geo6, Allow4, Allow6 []netip.Prefix
	// GeoNetworks is how many networks of the table are in an allowed
	// country (before aggregation).
	GeoNetworks int
	// GeoClient is a source address in an allowed country (not
	// allowlisted) that the legitimate client uses beside its allowlisted
	// link address.
	GeoClient netip.Addr
	// Attack holds the spoofed sources, each judged Drop by the model.
	Attack []attackSource
}

// attackSource is one spoofed source of the flood.
type attackSource struct {
	Addr    netip.Addr
	Country string // "" for none
}

// buildScenario builds the policy from nets (a country table) and picks
// n4+n6 attack sources, spread evenly over the disallowed countries (one in
// ten without a country), and one allowed-country client address. allow
// are the lab's own allowlisted prefixes (the client's link).
func buildScenario(nets []geodata.Network, allow []netip.Prefix, n4, n6 int, seed uint64) (*scenario, error) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	sc := &scenario{Policy: &policy.Policy{}}
	admitted := map[string]bool{}
	for _, c := range allowedCountries {
		admitted[c] = true
	}
	// Disallowed networks by family and country; allowed ones for the sets.
	type byCountry map[string][]netip.Prefix
	deny := [2]byCountry{{}, {}}
	var noCountry [2][]netip.Prefix
	for _, n := range nets {
		fam := 0
		if n.Prefix.Addr().Is6() {
			fam = 1
		}
		sc.Policy.Networks = append(sc.Policy.Networks, policy.Network{Prefix: n.Prefix, Country: n.Country})
		switch {
		case admitted[n.Country] && fam == 0:
			sc.Geo4 = append(sc.Geo4, n.Prefix)
		case admitted[n.Country]:
			sc.Geo6 = append(sc.Geo6, n.Prefix)
		case n.Country == "":
			noCountry[fam] = append(noCountry[fam], n.Prefix)
		default:
			deny[fam][n.Country] = append(deny[fam][n.Country], n.Prefix)
		}
	}
	if len(sc.Geo4) == 0 || len(sc.Geo6) == 0 {
		return nil, errors.New("scenario: the table has no networks in the allowed countries")
	}
	sc.GeoNetworks = len(sc.Geo4) + len(sc.Geo6)
	geo4 := sc.Geo4 // the client's address is drawn from a table network
	// The allowlist: the lab's link plus 48 partner ranges from the table
	// (any country), as an operator would list its partners' gateways.
	allowAll := slices.Clone(allow)
	for range 48 {
		allowAll = append(allowAll, nets[r.IntN(len(nets))].Prefix)
	}
	for _, p := range allowAll {
		if p.Addr().Is4() {
			sc.Allow4 = append(sc.Allow4, p)
		} else {
			sc.Allow6 = append(sc.Allow6, p)
		}
	}
	sc.Allow4, sc.Allow6 = aggregate(sc.Allow4), aggregate(sc.Allow6)
	sc.Geo4, sc.Geo6 = aggregate(sc.Geo4), aggregate(sc.Geo6)
	countries := slices.Clone(allowedCountries)
	for _, svc := range []struct {
		id    uint8
		name  string
		proto policy.Proto
		port  uint16
	}{{1, "imaps", policy.TCP, imapsPort}, {2, "quic", policy.UDP, quicPort}} {
		sc.Policy.Services = append(sc.Policy.Services, policy.Service{
			ID: svc.id, Name: svc.name, Protocols: []policy.Proto{svc.proto}, Ports: []uint16{svc.port},
			Allow: allowAll, Countries: countries, Geofenced: true,
		})
	}
	m, err := policy.NewModel(sc.Policy)
	if err != nil {
		return nil, fmt.Errorf("scenario policy: %w", err)
	}
	sc.Model = m
	probe4, probe6 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:2::1")
	judge := func(a netip.Addr) policy.Verdict {
		dst := probe4
		if a.Is6() {
			dst = probe6
		}
		return m.JudgeFlow(a, dst, policy.TCP, imapsPort)
	}

	// The client's allowed-country address: an IPv4 address in Germany.
	for tries := 0; !sc.GeoClient.IsValid(); tries++ {
		if tries > 10000 {
			return nil, errors.New("scenario: no allowed-country client address found")
		}
		p := geo4[r.IntN(len(geo4))]
		a := geodata.RandomAddr(r, p)
		if m.Country(a) == "DE" && p.Bits() <= 30 && judge(a).Reason == policy.ReasonCountry {
			sc.GeoClient = a
		}
	}

	for fam, n := range []int{n4, n6} {
		var keys []string
		for c := range deny[fam] {
			keys = append(keys, c)
		}
		slices.Sort(keys)
		if len(keys) == 0 {
			return nil, errors.New("scenario: the table has no disallowed networks")
		}
		for tries := 0; n > 0; tries++ {
			if tries > 100*n+10000 {
				return nil, errors.New("scenario: too few disallowed sources found")
			}
			var p netip.Prefix
			if r.IntN(10) == 0 && len(noCountry[fam]) > 0 {
				p = noCountry[fam][r.IntN(len(noCountry[fam]))]
			} else {
				ps := deny[fam][keys[r.IntN(len(keys))]]
				p = ps[r.IntN(len(ps))]
			}
			a := geodata.RandomAddr(r, p)
			if v := judge(a); v.Action != policy.Drop {
				continue // inside an allowlisted partner range
			}
			sc.Attack = append(sc.Attack, attackSource{Addr: a, Country: m.Country(a)})
			n--
		}
	}
	return sc, nil
}

// Countries is how many distinct countries the attack sources are in
// (sources without a country not counted).
func (sc *scenario) Countries() int {
	seen := map[string]bool{}
	for _, s := range sc.Attack {
		if s.Country != "" {
			seen[s.Country] = true
		}
	}
	return len(seen)
}

// port is one protected protocol and port.
type port struct {
	proto string // "tcp" or "udp"
	port  uint16
}

func (sc *scenario) ports() []port {
	var out []port
	for _, s := range sc.Policy.Services {
		for _, pr := range s.Protocols {
			for _, p := range s.Ports {
				out = append(out, port{pr.String(), p})
			}
		}
	}
	return out
}

// nftTable is the nftables table's name in the protected namespace.
const nftTable = "enfattack"

// writeNft writes an nftables ruleset enforcing sc on the ingress hook of
// iface (netdev family: the earliest hook, right after the driver hands
// the packet to the stack): protected ports admit the allowlist and the
// allowed countries' interval sets and drop the rest, counted.
func (sc *scenario) writeNft(w io.Writer, iface string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table netdev %s {\n\tcounter dropped { }\n", nftTable)
	for _, s := range []struct {
		name, typ string
		elems     []netip.Prefix
	}{
		{"allow4", "ipv4_addr", sc.Allow4},
		{"allow6", "ipv6_addr", sc.Allow6},
		{"geo4", "ipv4_addr", sc.Geo4},
		{"geo6", "ipv6_addr", sc.Geo6},
	} {
		// auto-merge folds adjacent prefixes into one interval: fewer
		// elements, a shallower tree to search.
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n\t\tauto-merge\n", s.name, s.typ)
		writeElements(&b, s.elems)
		b.WriteString("\t}\n")
	}
	fmt.Fprintf(&b, "\tchain ingress {\n\t\ttype filter hook ingress device %q priority -500; policy accept;\n", iface)
	for _, p := range sc.ports() {
		fmt.Fprintf(&b, "\t\tmeta protocol ip %s dport %d jump guard4\n", p.proto, p.port)
		fmt.Fprintf(&b, "\t\tmeta protocol ip6 %s dport %d jump guard6\n", p.proto, p.port)
	}
	b.WriteString("\t}\n")
	for _, fam := range []struct{ chain, match, allow, geo string }{
		{"guard4", "ip saddr", "allow4", "geo4"},
		{"guard6", "ip6 saddr", "allow6", "geo6"},
	} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\t%s @%s accept\n\t\t%s @%s accept\n\t\tcounter name \"dropped\" drop\n\t}\n",
			fam.chain, fam.match, fam.allow, fam.match, fam.geo)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeElements(b *strings.Builder, ps []netip.Prefix) {
	if len(ps) == 0 {
		return
	}
	b.WriteString("\t\telements = {\n")
	for i, p := range ps {
		sep := ","
		if i == len(ps)-1 {
			sep = ""
		}
		fmt.Fprintf(b, "\t\t\t%s%s\n", p, sep)
	}
	b.WriteString("\t\t}\n")
}

// ipset names.
const (
	setAllow4 = "enf-allow4"
	setAllow6 = "enf-allow6"
	setGeo4   = "enf-geo4"
	setGeo6   = "enf-geo6"
	iptChain  = "enf-guard"
)

// writeIpset writes `ipset restore` input creating hash:net sets with the
// same prefixes as the nftables sets.
func (sc *scenario) writeIpset(w io.Writer) error {
	var b strings.Builder
	for _, s := range []struct {
		name, family string
		elems        []netip.Prefix
	}{
		{setAllow4, "inet", sc.Allow4},
		{setAllow6, "inet6", sc.Allow6},
		{setGeo4, "inet", sc.Geo4},
		{setGeo6, "inet6", sc.Geo6},
	} {
		size := pow2Ceil(max(len(s.elems), 64))
		fmt.Fprintf(&b, "create %s hash:net family %s hashsize %d maxelem %d\n", s.name, s.family, size, size)
		for _, p := range s.elems {
			fmt.Fprintf(&b, "add %s %s\n", s.name, p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeIptables writes iptables-restore (v6: ip6tables-restore) input for
// the raw table's PREROUTING chain: protected ports go through a chain
// that returns for the allowlist and the allowed countries and drops the
// rest.
func (sc *scenario) writeIptables(w io.Writer, v6 bool) error {
	allow, geo := setAllow4, setGeo4
	if v6 {
		allow, geo = setAllow6, setGeo6
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:%s - [0:0]\n", iptChain)
	for _, p := range sc.ports() {
		fmt.Fprintf(&b, "-A PREROUTING -p %s -m %s --dport %d -j %s\n", p.proto, p.proto, p.port, iptChain)
	}
	fmt.Fprintf(&b, "-A %s -m set --match-set %s src -j RETURN\n", iptChain, allow)
	fmt.Fprintf(&b, "-A %s -m set --match-set %s src -j RETURN\n", iptChain, geo)
	fmt.Fprintf(&b, "-A %s -j DROP\nCOMMIT\n", iptChain)
	_, err := io.WriteString(w, b.String())
	return err
}

func pow2Ceil(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

// aggregate returns the fewest prefixes covering exactly the addresses of
// ps (one family): overlapping and adjacent networks merged, as country
// lists for ipset are published (ipdeny.com's zone files, for one).
func aggregate(ps []netip.Prefix) []netip.Prefix {
	type span struct{ lo, hi u128 }
	spans := make([]span, 0, len(ps))
	for _, p := range ps {
		p = p.Masked()
		spans = append(spans, span{toU128(p.Addr()), toU128(geodata.LastAddr(p))})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo.cmp(b.lo) })
	var merged []span
	for _, s := range spans {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if !last.hi.isMax() && s.lo.cmp(last.hi.add1()) <= 0 {
				if s.hi.cmp(last.hi) > 0 {
					last.hi = s.hi
				}
				continue
			}
		}
		merged = append(merged, s)
	}
	var out []netip.Prefix
	is4 := len(ps) > 0 && ps[0].Addr().Is4()
	for _, s := range merged {
		out = appendRange(out, s.lo, s.hi, is4)
	}
	return out
}

// appendRange appends the fewest prefixes covering [lo, hi].
func appendRange(out []netip.Prefix, lo, hi u128, is4 bool) []netip.Prefix {
	width := 128
	if is4 {
		width = 32
	}
	for {
		// The largest block starting at lo (aligned) and ending by hi.
		size := min(lo.trailingZeros(), width)
		for size > 0 && lo.addPow2Minus1(size).cmp(hi) > 0 {
			size--
		}
		out = append(out, netip.PrefixFrom(lo.addr(is4), width-size))
		end := lo.addPow2Minus1(size)
		if end.cmp(hi) >= 0 {
			return out
		}
		lo = end.add1()
	}
}

// u128 is an address as a 128-bit number (IPv4 in the low 32 bits).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) cmp(v u128) int {
	switch {
	case u.hi != v.hi:
		return cmp.Compare(u.hi, v.hi)
	default:
		return cmp.Compare(u.lo, v.lo)
	}
}

func (u u128) isMax() bool { return u.hi == ^uint64(0) && u.lo == ^uint64(0) }

func (u u128) add1() u128 {
	lo := u.lo + 1
	hi := u.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

// addPow2Minus1 is u + 2^n - 1 (no overflow for an aligned u).
func (u u128) addPow2Minus1(n int) u128 {
	var m u128
	switch {
	case n >= 128:
		m = u128{^uint64(0), ^uint64(0)}
	case n >= 64:
		m = u128{1<<(n-64) - 1, ^uint64(0)}
	default:
		m = u128{0, 1<<n - 1}
	}
	lo, carry := bits.Add64(u.lo, m.lo, 0)
	hi, _ := bits.Add64(u.hi, m.hi, carry)
	return u128{hi, lo}
}

func (u u128) trailingZeros() int {
	if u.lo != 0 {
		return bits.TrailingZeros64(u.lo)
	}
	if u.hi != 0 {
		return 64 + bits.TrailingZeros64(u.hi)
	}
	return 128
}
