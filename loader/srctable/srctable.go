// Package srctable compiles what the datapath needs to know about a packet's
// source address (its country, whether it is denied, which services
// allowlist it) into the source table the XDP program walks.
//
// The table is a compressed multibit trie in the manner of Poptrie (Asai and
// Ohara, SIGCOMM 2015): an 18-bit direct-indexed table per address family,
// then 64-ary nodes whose child and leaf arrays are packed and indexed by
// population counts of two bitmaps. A lookup costs one cell read per 6 bits
// of the longest prefix on its path and never depends on how many prefixes
// the table holds; memory stays near one node per distinct 6-bit split. The
// cell layout is described in bpf/include/enforcer.h.
//
// It knows the policy model and the table layout only, not how the
// datapath loads the table.
package srctable

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
)

// Layout constants, mirrored from bpf/include/enforcer.h.
const (
	CellWords      = 8
	directBits     = 18
	directCells    = 1 << directBits / CellWords
	v4Direct       = 0
	v6Direct       = directCells
	classBase      = 2 * directCells
	classCells     = 8192
	classesPerCell = 2
	firstNode      = classBase + classCells
	nodeFlag       = 0x80000000

	// HeaderCell is the table's header (the last class cell, ST_HEADER):
	// the loader writes the service tables' generation into its word 0.
	HeaderCell = firstNode - 1

	// MaxClasses is how many distinct (country, deny, allow) combinations
	// one table can hold: the class cells but the header.
	MaxClasses = (classCells - 1) * classesPerCell
	// MaxServices bounds service ids: allow bitmaps are 64 bits wide and
	// id 0 means "no service".
	MaxServices = 64
)

// Cell is one 32-byte element of the source table map.
type Cell [CellWords]uint32

// Attr is what the table says about one source address.
type Attr struct {
	Country uint16 // CountryID of the source's country, 0 for none
	Deny    bool   // the source is in the deny list
	Allow   uint64 // bit n set: allowlisted for service id n
}

// Allowed reports whether the attribute allowlists service id svc.
func (a Attr) Allowed(svc uint8) bool { return svc < MaxServices && a.Allow>>svc&1 == 1 }

// ErrTooManyClasses means the inputs combine into more distinct
// (country, deny, allow) combinations than one table holds.
var ErrTooManyClasses = errors.New("too many distinct source classes")

// Builder collects prefixes; Build compiles them. Countries follow longest
// prefix match; deny and allow entries are unions: an address is denied (or
// allowlisted for a service) when any entry covers it. The zero Builder is
// ready to use.
type Builder struct {
	fam [2]family // IPv4, IPv6
	err error
}

type family struct {
	countries []span // in insertion order; sorted by Build if needed
	overlays  []span // deny (svc 0) and allow (svc 1..63) entries
}

// span is an inclusive address range from one prefix: lo up to last. It
// holds no upper bound of its own, which keeps a full-scale table's spans
// (one per network) at 24 bytes each.
type span struct {
	lo      u128
	bits    uint8
	country uint16 // for countries
	svc     uint8  // for overlays: 0 deny, else the allowlisted service
}

// SetCountry records that addresses in p belong to the country with code cc
// ("" for a network known to have no country).
func (b *Builder) SetCountry(p netip.Prefix, cc string) {
	id, err := CountryID(cc)
	if err != nil {
		b.fail(fmt.Errorf("network %v: %w", p, err))
		return
	}
	if f, s, ok := b.span(p); ok {
		s.country = id
		f.countries = append(f.countries, s)
	}
}

// Deny records that addresses in p are denied.
func (b *Builder) Deny(p netip.Prefix) {
	if f, s, ok := b.span(p); ok {
		f.overlays = append(f.overlays, s)
	}
}

// Allow records that addresses in p are allowlisted for service id svc.
func (b *Builder) Allow(p netip.Prefix, svc uint8) {
	if svc == 0 || svc >= MaxServices {
		b.fail(fmt.Errorf("allow %v: service id %d out of range 1..%d", p, svc, MaxServices-1))
		return
	}
	if f, s, ok := b.span(p); ok {
		s.svc = svc
		f.overlays = append(f.overlays, s)
	}
}

// Grow makes room for about n4 IPv4 and n6 IPv6 country networks, which
// saves a full-scale build most of its allocations.
func (b *Builder) Grow(n4, n6 int) {
	b.fam[0].countries = slices.Grow(b.fam[0].countries, n4)
	b.fam[1].countries = slices.Grow(b.fam[1].countries, n6)
}

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) span(p netip.Prefix) (*family, span, bool) {
	if !p.IsValid() {
		b.fail(fmt.Errorf("invalid prefix %v", p))
		return nil, span{}, false
	}
	// IPv4-mapped IPv6 prefixes describe IPv4 addresses; the datapath judges
	// such sources as IPv4, so they are stored there.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	f := &b.fam[0]
	if p.Addr().Is6() {
		f = &b.fam[1]
	}
	return f, span{lo: fromAddr(p.Addr()), bits: uint8(p.Bits())}, true
}

// last is the last address of s in a family of width-bit addresses.
func (s span) last(width int) u128 { return s.lo.or(ones(width - int(s.bits))) }

// Table is a compiled source table.
type Table struct {
	Cells   []Cell
	Classes []Attr
	nodes   int
}

// Build compiles the recorded prefixes into a Table.
func (b *Builder) Build() (*Table, error) {
	if b.err != nil {
		return nil, b.err
	}
	c := compiler{
		classes: []Attr{{}},
		ids:     map[Attr]uint32{{}: 0},
	}
	// The families are independent until their segments meet the class
	// table: resolve each one's prefixes on a core of its own.
	var resolved [2]struct {
		countries []segment[uint16]
		overlays  []segment[overlay]
	}
	var wg sync.WaitGroup
	for i := range b.fam {
		wg.Go(func() {
			width := 32 << (2 * i) // IPv4, IPv6
			resolved[i].countries = countrySegments(b.fam[i].countries, width)
			resolved[i].overlays = overlaySegments(b.fam[i].overlays, width)
		})
	}
	wg.Wait()
	var segs [2][]segment[uint32]
	n := 0
	for i := range b.fam {
		var err error
		if segs[i], err = c.flatten(resolved[i].countries, resolved[i].overlays); err != nil {
			return nil, err
		}
		n += len(segs[i])
	}
	// About one node and one leaf per segment boundary.
	c.cells = make([]Cell, firstNode, firstNode+n+n/CellWords+64)
	c.leaves = make([]uint32, 0, n+64)
	c.buildDirect(segs[0], 32, v4Direct)
	c.buildDirect(segs[1], 128, v6Direct)
	c.finish()
	return &Table{Cells: c.cells, Classes: c.classes, nodes: len(c.cells) - firstNode - (len(c.leaves)+CellWords-1)/CellWords}, nil
}

// Lookup walks the table exactly as the XDP program does.
func (t *Table) Lookup(a netip.Addr) Attr {
	a = a.Unmap()
	x := fromAddr(a)
	width, direct := 32, uint32(v4Direct)
	if a.Is6() {
		width, direct = 128, v6Direct
	}
	top := x.chunk(width, 0, directBits)
	e := t.word(direct*CellWords + uint32(top))
	for d := directBits; e&nodeFlag != 0 && d < width; d += 6 {
		n := t.node(e &^ nodeFlag)
		v := x.chunk(width, d, 6)
		mask := uint64(2)<<v - 1
		if n.vector>>v&1 == 1 {
			e = nodeFlag | (n.base1 + uint32(bits.OnesCount64(n.vector&mask)) - 1)
			continue
		}
		e = t.word(n.base0 + uint32(bits.OnesCount64(n.leafvec&mask)) - 1)
	}
	if e&nodeFlag != 0 || int(e) >= len(t.Classes) {
		return Attr{}
	}
	return t.Classes[e]
}

func (t *Table) word(i uint32) uint32 { return t.Cells[i/CellWords][i%CellWords] }

type node struct {
	vector, leafvec uint64
	base1, base0    uint32
}

func (t *Table) node(cell uint32) node {
	c := &t.Cells[cell]
	return node{
		vector:  uint64(c[0]) | uint64(c[1])<<32,
		leafvec: uint64(c[2]) | uint64(c[3])<<32,
		base1:   c[4],
		base0:   c[5],
	}
}

// Stats describes a table's size.
type Stats struct {
	Cells   int // 32-byte cells in all, fixed ones included
	Nodes   int
	Classes int
}

// Stats returns the table's size.
func (t *Table) Stats() Stats {
	return Stats{Cells: len(t.Cells), Nodes: t.nodes, Classes: len(t.Classes)}
}

// Bytes is the table's size in the kernel.
func (s Stats) Bytes() int { return s.Cells * CellWords * 4 }

// CountryID maps an ISO 3166-1 alpha-2 code to the datapath's country id:
// 0 for "", 1 + (c0-'A')*26 + (c1-'A') otherwise.
func CountryID(cc string) (uint16, error) {
	if cc == "" {
		return 0, nil
	}
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return 0, fmt.Errorf("country code %q is not two upper-case letters (ISO 3166-1 alpha-2, e.g. DE)", cc)
	}
	return 1 + uint16(cc[0]-'A')*26 + uint16(cc[1]-'A'), nil
}

// CountryCode is the inverse of CountryID ("" for 0 or out of range).
func CountryCode(id uint16) string {
	if id == 0 || id > 26*26 {
		return ""
	}
	id--
	return string([]byte{'A' + byte(id/26), 'A' + byte(id%26)})
}
