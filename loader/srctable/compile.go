package srctable

import (
	"fmt"
	"slices"
)

// segment starts a run of addresses, up to the next segment's start, that
// share one value.
type segment[T comparable] struct {
	start u128
	v     T
}

// pushSeg appends a change point, folding zero-length and no-op changes.
func pushSeg[T comparable](out []segment[T], start u128, v T) []segment[T] {
	n := len(out)
	if n > 0 && out[n-1].start == start {
		out[n-1].v = v
		if n > 1 && out[n-2].v == v {
			out = out[:n-1]
		}
		return out
	}
	if n > 0 && out[n-1].v == v {
		return out
	}
	return append(out, segment[T]{start, v})
}

type overlay struct {
	deny  bool
	allow uint64
}

type compiler struct {
	classes []Attr
	ids     map[Attr]uint32
	// byCountry caches the ids of classes that are a country alone (no
	// deny, no allow), the class of nearly every segment of a GeoIP
	// table, so that a full-scale build does not hash a million of them.
	// 0 is unset: id 0 is the empty class, which the map holds.
	byCountry [26*26 + 1]uint32
	cells     []Cell
	leaves    []uint32
}

func (c *compiler) intern(a Attr) (uint32, error) {
	plain := !a.Deny && a.Allow == 0 && int(a.Country) < len(c.byCountry)
	if plain && c.byCountry[a.Country] != 0 {
		return c.byCountry[a.Country], nil
	}
	if id, ok := c.ids[a]; ok {
		return id, nil
	}
	if len(c.classes) >= MaxClasses {
		return 0, fmt.Errorf("%w: more than %d; use fewer overlapping allow/deny entries", ErrTooManyClasses, MaxClasses)
	}
	id := uint32(len(c.classes))
	c.classes = append(c.classes, a)
	c.ids[a] = id
	if plain {
		c.byCountry[a.Country] = id
	}
	return id, nil
}

// flatten merges one family's country and overlay segments into sorted
// segments of class ids covering the whole address space from 0.
func (c *compiler) flatten(countries []segment[uint16], overlays []segment[overlay]) ([]segment[uint32], error) {
	out := make([]segment[uint32], 0, len(countries)+2*len(overlays))
	ci, oi := 0, 0
	pos := u128{}
	for {
		id, err := c.intern(Attr{Country: countries[ci].v, Deny: overlays[oi].v.deny, Allow: overlays[oi].v.allow})
		if err != nil {
			return nil, err
		}
		out = pushSeg(out, pos, id)
		hasC, hasO := ci+1 < len(countries), oi+1 < len(overlays)
		switch {
		case hasC && hasO:
			pos = countries[ci+1].start
			if overlays[oi+1].start.less(pos) {
				pos = overlays[oi+1].start
			}
		case hasC:
			pos = countries[ci+1].start
		case hasO:
			pos = overlays[oi+1].start
		default:
			return out, nil
		}
		if hasC && countries[ci+1].start == pos {
			ci++
		}
		if hasO && overlays[oi+1].start == pos {
			oi++
		}
	}
}

// countrySegments resolves possibly nested country prefixes by longest
// match. MaxMind networks arrive sorted and disjoint, which skips the sort.
func countrySegments(spans []span, width int) []segment[uint16] {
	before := func(a, b span) int {
		if c := a.lo.cmp(b.lo); c != 0 {
			return c
		}
		return int(a.bits) - int(b.bits)
	}
	if !slices.IsSortedFunc(spans, before) {
		spans = slices.Clone(spans)
		slices.SortStableFunc(spans, before)
	}
	out := make([]segment[uint16], 1, len(spans)+1)
	var stack []span
	closeUntil := func(lo u128, all bool) {
		for len(stack) > 0 && (all || stack[len(stack)-1].last(width).less(lo)) {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			next, over := t.last(width).inc()
			if over {
				continue
			}
			var outer uint16
			if len(stack) > 0 {
				outer = stack[len(stack)-1].country
			}
			out = pushSeg(out, next, outer)
		}
	}
	for _, s := range spans {
		closeUntil(s.lo, false)
		stack = append(stack, s)
		out = pushSeg(out, s.lo, s.country)
	}
	closeUntil(u128{}, true)
	return out
}

// overlaySegments resolves deny and allow entries, which are unions.
func overlaySegments(spans []span, width int) []segment[overlay] {
	type event struct {
		pos   u128
		svc   uint8
		delta int32
	}
	evs := make([]event, 0, 2*len(spans))
	for _, s := range spans {
		evs = append(evs, event{s.lo, s.svc, 1})
		if next, over := s.last(width).inc(); !over {
			evs = append(evs, event{next, s.svc, -1})
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return a.pos.cmp(b.pos) })
	out := []segment[overlay]{{}}
	var count [MaxServices]int32
	for i := 0; i < len(evs); {
		pos := evs[i].pos
		for ; i < len(evs) && evs[i].pos == pos; i++ {
			count[evs[i].svc] += evs[i].delta
		}
		o := overlay{deny: count[0] > 0}
		for s := 1; s < MaxServices; s++ {
			if count[s] > 0 {
				o.allow |= 1 << s
			}
		}
		out = pushSeg(out, pos, o)
	}
	return out
}

// buildDirect fills a family's direct table, building nodes under entries
// whose /18 holds more than one class.
func (c *compiler) buildDirect(segs []segment[uint32], width int, base uint32) {
	k := 0
	for j := uint64(0); j < 1<<directBits; j++ {
		lo := u128{lo: j}.shl(width - directBits)
		hi := lo.or(ones(width - directBits))
		for k+1 < len(segs) && !lo.less(segs[k+1].start) {
			k++
		}
		e := segs[k].v
		if k+1 < len(segs) && !hi.less(segs[k+1].start) {
			cell := uint32(len(c.cells))
			c.cells = append(c.cells, Cell{})
			c.buildNode(cell, segs, k, lo, width, directBits)
			e = nodeFlag | cell
		}
		c.cells[base+uint32(j)/CellWords][j%CellWords] = e
	}
}

// buildNode fills the node in cell for the 6 address bits after the first
// d bits of lo; k indexes the segment holding lo. It visits only the
// segment boundaries inside the node, not all 64 positions, which keeps a
// full-scale build fast: most nodes hold two or three boundaries.
func (c *compiler) buildNode(cell uint32, segs []segment[uint32], k int, lo u128, width, d int) {
	r := width - d // address bits left below this node
	hi := lo.or(ones(r))
	type child struct {
		lo u128
		k  int
	}
	var (
		vector, leafvec uint64
		children        []child
		prev            uint32
		haveLeaf        bool
		base0           = uint32(len(c.leaves))
	)
	leaf := func(pos int, v uint32) {
		if !haveLeaf || v != prev {
			leafvec |= 1 << pos
			c.leaves = append(c.leaves, v)
			prev, haveLeaf = v, true
		}
	}
	// posOf maps an offset inside the node to its position and whether it
	// is the position's first address. With fewer than 6 bits left the walk
	// pads the chunk with zero bits: each address is its own position.
	posOf := func(off u128) (int, bool) {
		if r >= 6 {
			return int(off.shr(r - 6).lo), off.lo&(1<<(r-6)-1) == 0 && (r-6 < 64 || off.lo == 0 && off.hi&(1<<(r-6-64)-1) == 0)
		}
		return int(off.lo) << (6 - r), true
	}
	cur := segs[k].v
	next := 0 // next position not yet emitted
	for i := k + 1; i < len(segs) && !hi.less(segs[i].start); {
		pos, aligned := posOf(segs[i].start.sub(lo))
		posK := i - 1 // segment holding the position's first address
		if aligned {
			posK = i
		}
		internal := !aligned
		// Further boundaries inside the same position make it internal.
		for i++; i < len(segs) && !hi.less(segs[i].start); i++ {
			p, _ := posOf(segs[i].start.sub(lo))
			if p != pos {
				break
			}
			internal = true
		}
		if next < pos {
			leaf(next, cur)
		}
		if internal {
			vector |= 1 << pos
			plo := lo
			if r >= 6 {
				plo = lo.add(u128{lo: uint64(pos)}.shl(r - 6))
			}
			children = append(children, child{plo, posK})
		} else {
			leaf(pos, segs[posK].v)
		}
		cur = segs[i-1].v
		next = pos + 1
	}
	if next < 64 {
		leaf(next, cur)
	}
	base1 := uint32(len(c.cells))
	for range children {
		c.cells = append(c.cells, Cell{})
	}
	n := &c.cells[cell]
	n[0], n[1] = uint32(vector), uint32(vector>>32)
	n[2], n[3] = uint32(leafvec), uint32(leafvec>>32)
	n[4], n[5] = base1, base0 // base0 is made absolute by finish
	for i, ch := range children {
		c.buildNode(base1+uint32(i), segs, ch.k, ch.lo, width, d+6)
	}
}

// finish places the leaves after the nodes, makes the nodes' leaf numbers
// absolute, and writes the class records.
func (c *compiler) finish() {
	leafBase := uint32(len(c.cells)) * CellWords
	for i := firstNode; i < len(c.cells); i++ {
		c.cells[i][5] += leafBase
	}
	for i := 0; i < len(c.leaves); i += CellWords {
		var cell Cell
		copy(cell[:], c.leaves[i:])
		c.cells = append(c.cells, cell)
	}
	// struct st_class, 16 bytes little-endian: u16 country, u8 deny,
	// 5 bytes pad, u64 allow.
	for id, a := range c.classes {
		cell := &c.cells[classBase+id/classesPerCell]
		w := (id % classesPerCell) * 4
		deny := uint32(0)
		if a.Deny {
			deny = 1
		}
		cell[w] = uint32(a.Country) | deny<<16
		cell[w+1] = 0
		cell[w+2] = uint32(a.Allow)
		cell[w+3] = uint32(a.Allow >> 32)
	}
}
