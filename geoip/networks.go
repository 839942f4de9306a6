package geoip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"sync/atomic"
)

// searchTree reads the binary search tree of a MaxMind DB directly (MaxMind
// DB spec, "Binary Search Tree Section"). Networks walks it itself rather
// than through maxminddb's iterator for two reasons:
//
//   - Bounded work. maxminddb's Verify accepts a tree whose nodes are shared
//     (a DAG), and its iterator would then enumerate every path: 128 nodes
//     chained with both records pointing to the next one give 2^128
//     networks. Here every node may be entered once (IPv4 aliases are not
//     entered at all), so a walk costs at most NodeCount steps.
//   - Speed. Records are decoded once per distinct data offset (a country
//     database has a few hundred records for over a million networks).
type searchTree struct {
	buf        []byte // the search tree section only
	nodeCount  uint
	recordSize uint // 24, 28 or 32
	ipv6       bool
	// ipv4Start is the node at ::/96, the root of the IPv4 subtree in an
	// IPv6 database, or >= nodeCount if there is no such node. Any other
	// record that points to it is an alias (::ffff:0:0/96, 2001::/32,
	// 2002::/16 as written by MaxMind's writers) and is not walked.
	ipv4Start uint
	dataSize  uint // size of the data section, for bounds checks
}

func newSearchTree(buf []byte, nodeCount, recordSize, ipVersion uint) (searchTree, error) {
	size := nodeCount * (recordSize / 4)
	if nodeCount == 0 || size/(recordSize/4) != nodeCount || size > uint(len(buf)) {
		return searchTree{}, fmt.Errorf("search tree of %d nodes does not fit in %d bytes", nodeCount, len(buf))
	}
	dataSize, err := dataSectionSize(buf, size)
	if err != nil {
		return searchTree{}, err
	}
	t := searchTree{
		buf:        buf[:size],
		nodeCount:  nodeCount,
		recordSize: recordSize,
		ipv6:       ipVersion == 6,
		ipv4Start:  nodeCount,
		dataSize:   dataSize,
	}
	if t.ipv6 {
		node := uint(0)
		for range 96 {
			if node >= nodeCount {
				break
			}
			node, _ = t.children(node)
		}
		t.ipv4Start = node
	}
	return t, nil
}

// children returns the left (bit 0) and right (bit 1) records of node,
// which must be < nodeCount.
func (t *searchTree) children(node uint) (left, right uint) {
	switch t.recordSize {
	case 24:
		b := t.buf[node*6 : node*6+6]
		return uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]),
			uint(b[3])<<16 | uint(b[4])<<8 | uint(b[5])
	case 28:
		// The middle byte holds the top nibble of each record: left's
		// in its high half, right's in its low half.
		b := t.buf[node*7 : node*7+7]
		return (uint(b[3])&0xf0)<<20 | uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]),
			(uint(b[3])&0x0f)<<24 | uint(b[4])<<16 | uint(b[5])<<8 | uint(b[6])
	default:
		b := t.buf[node*8 : node*8+8]
		return uint(binary.BigEndian.Uint32(b[0:4])), uint(binary.BigEndian.Uint32(b[4:8]))
	}
}

// walkEntry is a record still to be visited: the pointer it holds and the
// network (address bits so far, depth) it stands for.
type walkEntry struct {
	ptr   uint
	depth int
	addr  [16]byte
}

var errNotATree = errors.New("search tree reaches a node twice (not a tree)")

// walk visits the records of the tree depth-first, left before right, so
// in address order, and calls leaf for each record that points to data,
// until leaf returns false. Empty records are passed over, and so are the
// aliases of the IPv4 subtree. Every internal node may be entered once, so
// a walk takes at most nodeCount steps whatever the file holds.
func (t *searchTree) walk(leaf func(walkEntry, uint) bool) error {
	return t.walkFrom(walkEntry{}, &budget{limit: t.nodeCount}, nil, leaf)
}

// walkFrom walks the subtree of start as walk does. Nodes for which cut
// (if not nil) is true are passed to leaf with offset cutNode instead of
// being entered. Each node entered is charged to b, which fails the walk
// with errNotATree when the tree holds more nodes than it has.
func (t *searchTree) walkFrom(start walkEntry, b *budget, cut func(walkEntry) bool, leaf func(walkEntry, uint) bool) error {
	bits := 32
	if t.ipv6 {
		bits = 128
	}
	// A depth-first walk holds at most one pending right sibling per level,
	// plus the entry being visited.
	var buf [130]walkEntry
	stack := append(buf[:0], start)
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case e.ptr < t.nodeCount:
			if t.ipv6 && e.ptr == t.ipv4Start && !under96(e.addr) {
				continue // an alias of the IPv4 subtree
			}
			if cut != nil && cut(e) {
				if !leaf(e, cutNode) {
					return nil
				}
				continue
			}
			if !b.charge() {
				return errNotATree
			}
			if e.depth >= bits {
				return fmt.Errorf("search tree node %d below the last address bit", e.ptr)
			}
			left, right := t.children(e.ptr)
			r := walkEntry{ptr: right, depth: e.depth + 1, addr: e.addr}
			r.addr[e.depth/8] |= 0x80 >> (e.depth % 8)
			stack = append(stack, r, walkEntry{ptr: left, depth: e.depth + 1, addr: e.addr})
		case e.ptr == t.nodeCount:
			// No data: address space the database does not cover.
		default:
			off := e.ptr - t.nodeCount - 16
			if e.ptr < t.nodeCount+16 || off >= t.dataSize {
				return fmt.Errorf("search tree record points outside the data section (%d)", e.ptr)
			}
			if !leaf(e, off) {
				return nil
			}
		}
	}
	return b.flush()
}

// cutNode is the offset walkFrom passes for a node it did not enter.
const cutNode = ^uint(0)

// budget bounds the nodes a walk may enter: a tree of nodeCount nodes
// has no more. Walks running in parallel share one count (shared), which
// each adds to in batches so that they do not contend on it; they enter at
// most batch nodes each beyond the limit before they see it.
type budget struct {
	n      uint // nodes entered (shared: since the last sync)
	limit  uint
	shared *atomic.Uint64
}

const budgetBatch = 1024

// charge counts one more node; false when over the limit.
func (b *budget) charge() bool {
	b.n++
	if b.shared == nil {
		return b.n <= b.limit
	}
	if b.n < budgetBatch {
		return true
	}
	return b.sync()
}

func (b *budget) sync() bool {
	total := b.shared.Add(uint64(b.n))
	b.n = 0
	return total <= uint64(b.limit)
}

// flush adds the rest of a shared count at the end of a walk.
func (b *budget) flush() error {
	if b.shared != nil && !b.sync() {
		return errNotATree
	}
	return nil
}

// Networks iterates over every network of the database that has a data
// record, in address order, IPv4 before IPv6. Each is yielded exactly once:
//
//   - IPv4 networks as 4-byte prefixes, taken from the IPv4 subtree
//     (::/96) only. Its aliases in an IPv6 database (::ffff:0:0/96,
//     2001::/32 Teredo, 2002::/16 6to4) are skipped: they would repeat the
//     same networks. A compiler that wants MaxMind's answer for Teredo or
//     6to4 source addresses must map them to IPv4 itself.
//   - IPv6 networks as 16-byte prefixes.
//   - Networks whose record has no country are yielded with Country "" and
//     SourceNone, so a compiler can tell "in the database, no country" from
//     address space the database does not cover, which is not yielded.
//
// A record that holds the whole IPv4 subtree (an IPv6 network ::/d, d < 96)
// yields 0.0.0.0/0 as well as ::/d, matching what Lookup answers for IPv4.
//
// Prefixes are canonical (masked). On an error (an *InvalidDatabaseError;
// Open has checked the tree, so only a record that does not decode) the
// iteration yields it with a zero Network and stops.
func (db *DB) Networks() iter.Seq2[Network, error] {
	return func(yield func(Network, error) bool) {
		if db.r == nil {
			yield(Network{}, ErrClosed)
			return
		}
		cache := make(map[uint]country)
		var stopped bool
		err := db.tree.walk(func(e walkEntry, off uint) bool {
			c, ok := cache[off]
			if !ok {
				var err error
				if c, err = db.decode(off); err != nil {
					stopped = true
					yield(Network{}, err)
					return false
				}
				cache[off] = c
			}
			if !db.yieldLeaf(yield, e, c) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil && !stopped {
			yield(Network{}, db.corrupt(err))
		}
	}
}

// yieldLeaf yields the network(s) of a data record at e.
func (db *DB) yieldLeaf(yield func(Network, error) bool, e walkEntry, c country) bool {
	if !db.tree.ipv6 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte(e.addr[:4])), e.depth)
		return yield(Network{Prefix: p, Country: c.country, Source: c.source}, nil)
	}
	if under96(e.addr) {
		if e.depth >= 96 {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte(e.addr[12:])), e.depth-96)
			return yield(Network{Prefix: p, Country: c.country, Source: c.source}, nil)
		}
		// ::/d with d < 96 contains the whole IPv4 subtree.
		all4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if !yield(Network{Prefix: all4, Country: c.country, Source: c.source}, nil) {
			return false
		}
	}
	p := netip.PrefixFrom(netip.AddrFrom16(e.addr), e.depth)
	return yield(Network{Prefix: p, Country: c.country, Source: c.source}, nil)
}

// under96 reports whether the first 96 bits of a are zero: whether a is in
// ::/96, where an IPv6 database keeps its IPv4 subtree.
func under96(a [16]byte) bool {
	return binary.BigEndian.Uint64(a[0:8]) == 0 && binary.BigEndian.Uint32(a[8:12]) == 0
}

func (db *DB) corrupt(err error) error {
	return &InvalidDatabaseError{Path: db.path, Err: err}
}
