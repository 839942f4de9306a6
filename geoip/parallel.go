package geoip

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// The tree is walked in parallel by subtree: a short sequential walk cuts
// it into subtrees at a fixed depth, which workers then walk on their own.
// Subtrees are taken in address order and each writes its networks into
// its own stretch of one output slice, sized by the count Open took, so the
// result is the sequential walk's, in the same order, without a merge.

// Cut depths. A country database's IPv4 networks sit under ::/96 and its
// IPv6 networks mostly under 2000::/3: cutting IPv6 at /16 and IPv4 at /12
// gives a few thousand subtrees of a few hundred networks each, enough to
// balance any number of cores without making the cut walk itself costly.
const (
	cutBits4 = 12
	cutBits6 = 16
)

// subtree is one part of the tree a worker walks.
type subtree struct {
	root walkEntry // a node or a data record
	off  int       // index of its first network in the walk's output
	n    int       // networks it yields
}

// cut reports whether the walk that splits the tree stops at node e.
func (t *searchTree) cut(e walkEntry) bool {
	if !t.ipv6 {
		return e.depth >= cutBits4
	}
	if under96(e.addr) {
		// On the path to the IPv4 subtree, or inside it.
		return e.depth >= 96+cutBits4
	}
	return e.depth >= cutBits6
}

// networksOf returns how many networks Networks yields for the data record
// at e (see yieldLeaf).
func (t *searchTree) networksOf(e walkEntry) int {
	if t.ipv6 && e.depth < 96 && under96(e.addr) {
		return 2
	}
	return 1
}

// split cuts the tree into subtrees and counts the networks of each,
// walking the whole tree once (in parallel) with the checks of walk: it
// fails if the tree is not a tree or a record points outside the data
// section.
func (t *searchTree) split() ([]subtree, error) {
	var entered atomic.Uint64
	var subs []subtree
	top := budget{limit: t.nodeCount, shared: &entered}
	err := t.walkFrom(walkEntry{}, &top, t.cut, func(e walkEntry, off uint) bool {
		s := subtree{root: e}
		if off != cutNode {
			s.n = t.networksOf(e)
		}
		subs = append(subs, s)
		return true
	})
	if err != nil {
		return nil, err
	}
	err = parallel(len(subs), func() func(int) error {
		return func(i int) error {
			s := &subs[i]
			if s.root.ptr >= t.nodeCount {
				return nil // a data record above the cut: counted
			}
			b := budget{limit: t.nodeCount, shared: &entered}
			return t.walkFrom(s.root, &b, nil, func(e walkEntry, _ uint) bool {
				s.n += t.networksOf(e)
				return true
			})
		}
	})
	if err != nil {
		return nil, err
	}
	off := 0
	for i := range subs {
		subs[i].off = off
		off += subs[i].n
	}
	return subs, nil
}

// collect walks the tree in parallel and returns every network Networks
// would yield, in the same order, each converted by conv.
func collect[T any](db *DB, conv func(Network) T) ([]T, error) {
	if db.r == nil {
		return nil, ErrClosed
	}
	subs := db.subtrees
	total := 0
	if len(subs) > 0 {
		total = subs[len(subs)-1].off + subs[len(subs)-1].n
	}
	out := make([]T, total)
	err := parallel(len(subs), func() func(int) error {
		// Each worker decodes a record once: a country database has a few
		// hundred records for over a million networks.
		cache := make(map[uint]country)
		return func(i int) error {
			s := subs[i]
			k, end := s.off, s.off+s.n
			var werr error
			put := func(n Network, _ error) bool {
				if k == end {
					werr = errCountChanged
					return false
				}
				out[k] = conv(n)
				k++
				return true
			}
			err := db.tree.walkFrom(s.root, &budget{limit: db.tree.nodeCount}, nil, func(e walkEntry, off uint) bool {
				c, ok := cache[off]
				if !ok {
					var err error
					if c, err = db.decode(off); err != nil {
						werr = err
						return false
					}
					cache[off] = c
				}
				return db.yieldLeaf(put, e, c)
			})
			switch {
			case werr != nil:
				return werr
			case err != nil:
				return db.corrupt(err)
			case k != end:
				return db.corrupt(errCountChanged)
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errCountChanged would mean a subtree yielded other networks than Open
// counted in it; the tree is immutable, so it is a bug.
var errCountChanged = errors.New("subtree network count changed since open (bug)")

// parallel runs job(i) for i in [0, n) on GOMAXPROCS workers, in order of
// i as far as workers take them; newWorker gives each worker its job
// function (and its own state). It returns the error of the smallest i that
// failed, as a sequential loop that stops at the first error would, and
// starts no job after it.
func parallel(n int, newWorker func() func(int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		job := newWorker()
		for i := range n {
			if err := job(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next   atomic.Int64
		failed atomic.Int64 // smallest i that failed, n if none
		mu     sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	failed.Store(int64(n))
	for range workers {
		wg.Go(func() {
			job := newWorker()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || i > failed.Load() {
					return
				}
				if err := job(int(i)); err != nil {
					mu.Lock()
					if i < failed.Load() {
						failed.Store(i)
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}
